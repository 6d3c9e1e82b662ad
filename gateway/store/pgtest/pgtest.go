// Package pgtest starts real PostgreSQL servers for tests, from the server
// binaries of Debian's postgresql package (/usr/lib/postgresql/*/bin): the
// PostgreSQL store and the cluster tests run against the engine they will
// meet in production, not a fake.
//
// A test binary shares one server: its TestMain calls Main, and each test
// that needs a database calls NewDatabase, which creates a fresh one. Start
// runs a dedicated server for a test that must own it (to stop it midway).
//
// A server listens on 127.0.0.1 on a free port and on a unix socket in its
// own temporary directory, with fsync and synchronous_commit on, so commits
// are as durable as in production. It runs as a child of the test binary
// that dies with it (PR_SET_PDEATHSIG), so a test binary killed by a timeout
// leaves no server behind. initdb refuses to run as root, so under root (as
// in CI) the server runs as the postgres user the package creates.
//
// Missing binaries fail the test with what to install; they never skip it,
// so CI cannot pass without having run the PostgreSQL tests.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres says the server binaries are missing and how to get them.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: " +
	"install Debian's postgresql package (apt-get install -y postgresql); the PostgreSQL tests never skip")

// binGlob is where Debian installs each major version's server binaries.
const binGlob = "/usr/lib/postgresql/*/bin/initdb"

// startTimeout bounds initdb plus the server's start.
const startTimeout = 60 * time.Second

// Server is one running PostgreSQL server owned by the test process.
type Server struct {
	dir     string // temporary directory: data/, the socket, server.log
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the server process has ended
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// StartServer initializes a cluster in a new temporary directory and starts
// a server on it, returning once it accepts connections.
func StartServer() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "smsgw-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Env = []string{"LC_ALL=C", "PATH=" + bin + ":/usr/bin:/bin"}
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// A free port can be taken by someone else before the server binds it:
	// try a few.
	var lastErr error
	for range 3 {
		s, err := start(bin, dir, cred)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func start(bin, dir string, cred *syscall.Credential) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()
	s := &Server{dir: dir, port: port, exited: make(chan struct{})}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"),
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir,
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "full_page_writes=on",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
		"-c", "deadlock_timeout=100ms",
		"-c", "log_min_messages=warning",
		"-c", "logging_collector=off")
	s.cmd.Env = []string{"LC_ALL=C"}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its
	// backends down with it if the test binary dies.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return s, nil
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("pgtest: postgres exited (%v):\n%s", s.waitErr, tail(log, 2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("pgtest: postgres did not accept connections in %v: %v\n%s", startTimeout, err, tail(log, 2000))
		}
	}
}

// DSN is the connection string for database db as the superuser postgres.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.port, db)
}

// dbSeq numbers the databases of one process.
var dbSeq atomic.Int64

// CreateDatabase creates an empty database and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("smsgw_test_%d", dbSeq.Add(1))
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return s.DSN(name), nil
}

// Stop shuts the server down and removes its directory. It is idempotent.
// The shutdown is immediate (SIGQUIT, no checkpoint): the data is thrown
// away, and a checkpoint of many test databases would take seconds.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = errors.New("pgtest: postgres did not stop in 15s; killed")
		}
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("pgtest: %w", err)
		}
	})
	return s.stopErr
}

// Start runs a dedicated server for tb and returns the DSN of an empty
// database on it, and a stop function (also called at tb's cleanup).
func Start(tb testing.TB) (dsn string, stop func()) {
	tb.Helper()
	s, err := StartServer()
	if err != nil {
		tb.Fatal(err)
	}
	stop = func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	}
	tb.Cleanup(stop)
	dsn, err = s.CreateDatabase(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return dsn, stop
}

// shared is the test binary's server, started by the first NewDatabase.
var shared struct {
	main atomic.Bool
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the tests of a package that uses NewDatabase and stops the
// shared server afterwards. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	shared.main.Store(true)
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

// NewDatabase returns the DSN of a new, empty database on the test binary's
// shared server, starting the server on first use. The package's TestMain
// must call Main, which stops the server.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	if !shared.main.Load() {
		tb.Fatal("pgtest: NewDatabase needs TestMain to call pgtest.Main, which stops the shared server")
	}
	shared.once.Do(func() { shared.srv, shared.err = StartServer() })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	dsn, err := shared.srv.CreateDatabase(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return dsn
}

// binDir returns the newest installed major version's binary directory.
func binDir() (string, error) {
	matches, _ := filepath.Glob(binGlob)
	if len(matches) == 0 {
		return "", ErrNoPostgres
	}
	version := func(p string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return v
	}
	slices.SortFunc(matches, func(a, b string) int { return version(a) - version(b) })
	dir := filepath.Dir(matches[len(matches)-1])
	if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
		return "", ErrNoPostgres
	}
	return dir, nil
}

// credential is who the server runs as: the current user, or the postgres
// user when running as root (initdb and postgres refuse root).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres user to run the server as "+
			"(Debian's postgresql package creates it): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgtest: postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail is the end of a log, for error messages.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
