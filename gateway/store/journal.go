package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// journal is an append-only log of records in numbered segment files in
// one directory. Append makes a set of records durable with one write and
// one fsync, so callers share it (group commit); Done tells the journal a
// record is no longer needed, and a segment whose records are all done is
// deleted once the journal has moved on to the next one.
//
// A record is framed as its length (4 bytes, little endian), the CRC-32C of
// its payload (4 bytes) and the payload. Only the end of the last segment
// can hold a torn record: an append that a crash cut short was never
// acknowledged, so replay drops it and the journal continues from there. A
// damaged record anywhere else is corruption, and opening fails naming the
// file and offset rather than skip what may be accepted messages.
type journal struct {
	dir     string
	maxSize int64

	mu      sync.Mutex
	seg     uint64   // number of the segment being appended to
	f       *os.File // that segment
	size    int64    // its length
	pending map[uint64]int
	buf     []byte
}

// journalMaxSegment is the length after which the journal starts a new
// segment, so the done part of the journal is deleted as it goes.
const journalMaxSegment = 16 << 20

// journalMaxRecord bounds one record's payload: a longer length read back
// is damage, not a record.
const journalMaxRecord = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errJournalDamaged marks a damaged record that is not a torn tail.
var errJournalDamaged = errors.New("damaged record")

// segmentName is the file name of segment n: sortable as text.
func segmentName(n uint64) string { return fmt.Sprintf("%016d.seg", n) }

// segments lists the segment numbers in dir, oldest first.
func segments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("journal %s: unexpected file %s", dir, e.Name())
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// replayJournal calls apply with every record in dir, oldest first, and
// returns the number the next segment should have. A torn record at the end
// of the last segment is cut off (it was never acknowledged); damage
// anywhere else fails.
func replayJournal(dir string, apply func(payload []byte) error) (next uint64, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	segs, err := segments(dir)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	for i, n := range segs {
		path := filepath.Join(dir, segmentName(n))
		good, err := replaySegment(path, apply)
		if errors.Is(err, errJournalDamaged) && i == len(segs)-1 {
			// A torn tail: drop it, so that appends do not follow garbage.
			if err := os.Truncate(path, good); err != nil {
				return 0, fmt.Errorf("journal: cut the torn end of %s: %w", path, err)
			}
			err = nil
		}
		if err != nil {
			return 0, fmt.Errorf("journal %s at offset %d: %w", path, good, err)
		}
		next = n + 1
	}
	return next, nil
}

// replaySegment applies the records of one segment and returns the offset
// after the last good one.
func replaySegment(path string, apply func([]byte) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 1<<16)
	var (
		off  int64
		head [8]byte
	)
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if err == io.EOF {
				return off, nil
			}
			return off, errJournalDamaged // a header cut short
		}
		n := binary.LittleEndian.Uint32(head[:4])
		if n > journalMaxRecord || off+8+int64(n) > fi.Size() {
			return off, errJournalDamaged // garbage, or a payload cut short
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return off, errJournalDamaged
		}
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(head[4:]) {
			return off, errJournalDamaged
		}
		if err := apply(payload); err != nil {
			return off, err
		}
		off += 8 + int64(n)
	}
}

// openJournal starts appending to dir at segment next (from replayJournal),
// after deleting the segments before it: the caller has applied them.
func openJournal(dir string, next uint64) (*journal, error) {
	segs, err := segments(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	for _, n := range segs {
		if err := os.Remove(filepath.Join(dir, segmentName(n))); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	j := &journal{dir: dir, maxSize: journalMaxSegment, seg: next, pending: make(map[uint64]int)}
	if err := j.create(); err != nil {
		return nil, err
	}
	return j, nil
}

// create opens segment j.seg for appending and makes its name durable.
func (j *journal) create() error {
	f, err := os.OpenFile(filepath.Join(j.dir, segmentName(j.seg)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	j.f, j.size = f, 0
	return nil
}

// syncDir makes the entries of dir (a new segment's name) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append writes records with one write and one fsync and returns the
// segment that holds them: the caller passes it to Done once per record
// when each is no longer needed. Only one goroutine appends.
func (j *journal) Append(records [][]byte) (uint64, error) {
	j.buf = j.buf[:0]
	for _, p := range records {
		j.buf = binary.LittleEndian.AppendUint32(j.buf, uint32(len(p)))
		j.buf = binary.LittleEndian.AppendUint32(j.buf, crc32.Checksum(p, crcTable))
		j.buf = append(j.buf, p...)
	}
	j.mu.Lock()
	if j.size >= j.maxSize {
		if err := j.rotate(); err != nil {
			j.mu.Unlock()
			return 0, err
		}
	}
	seg, f := j.seg, j.f
	j.pending[seg] += len(records)
	j.size += int64(len(j.buf))
	j.mu.Unlock()
	if _, err := f.Write(j.buf); err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	return seg, nil
}

// rotate closes the current segment (deleting it if nothing in it is still
// needed) and starts the next. j.mu is held.
func (j *journal) rotate() error {
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if j.pending[j.seg] == 0 {
		delete(j.pending, j.seg)
		if err := os.Remove(filepath.Join(j.dir, segmentName(j.seg))); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
	}
	j.seg++
	return j.create()
}

// Done says n records of segment seg are no longer needed. A segment the
// journal has moved past is deleted when its last record is done.
func (j *journal) Done(seg uint64, n int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending[seg] -= n
	if j.pending[seg] > 0 || seg == j.seg {
		return nil
	}
	delete(j.pending, seg)
	if err := os.Remove(filepath.Join(j.dir, segmentName(seg))); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Close closes the current segment, deleting the journal's files when no
// record is still needed.
func (j *journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.f.Close()
	for _, n := range j.pending {
		if n > 0 {
			return err
		}
	}
	if rmErr := os.Remove(filepath.Join(j.dir, segmentName(j.seg))); err == nil {
		err = rmErr
	}
	return err
}
