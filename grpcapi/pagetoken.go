package grpcapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"

	"google.golang.org/protobuf/proto"

	"github.com/openmf/smsgw/gateway"
	pb "github.com/openmf/smsgw/proto/smsgw/v1"
)

// A page token is opaque to clients (AIP-158): base64 of the position to
// go on from and a digest of the filters it was made for, so a token
// cannot be forged from an id nor reused with other filters, whose pages
// would silently skip or repeat messages.
type pageToken struct {
	After   string `json:"a"` // the last message id of the previous page
	Filters string `json:"f"` // filterDigest of the request that made it
}

// filterDigest sums a request's filters (everything but the page fields).
func filterDigest(r *pb.ListMessagesRequest) string {
	f := proto.Clone(r).(*pb.ListMessagesRequest)
	f.PageSize, f.PageToken = 0, ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(f)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

func encodePageToken(r *pb.ListMessagesRequest, lastID string) string {
	b, _ := json.Marshal(pageToken{After: lastID, Filters: filterDigest(r)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodePageToken is the id to list before, "" for the first page.
func decodePageToken(r *pb.ListMessagesRequest) (string, error) {
	if r.GetPageToken() == "" {
		return "", nil
	}
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(r.GetPageToken())
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.After == "" {
		return "", &gateway.FieldError{Field: "page_token", Reason: "is not a token this API returned"}
	}
	if t.Filters != filterDigest(r) {
		return "", &gateway.FieldError{Field: "page_token", Reason: "was made for other filters; send the same status, to, since and until as the request that returned it"}
	}
	return t.After, nil
}
