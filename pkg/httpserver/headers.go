package httpserver

import (
	"net/http"
	"strconv"

	"github.com/orderpipe/orderpipe/pkg/problem"
)

// MaxHeaderBytes is the most request line and header bytes a request may
// carry: beyond it the answer is 431 with a problem body. net/http's own
// limit sits at twice this (plus its 4 KiB slack): what exceeds that is
// refused by net/http before any handler runs, with its plain-text 431 and
// the connection closed.
const MaxHeaderBytes = 32 << 10

// TypeHeadersTooLarge is the problem type of a 431.
const TypeHeadersTooLarge = "urn:orderpipe:problem:headers-too-large"

// limitHeaders answers 431 (problem+json) for a request whose request line
// and headers exceed MaxHeaderBytes.
func limitHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerSize(r) > MaxHeaderBytes {
			w.Header().Set("Connection", "close")
			problem.Write(w, r, problem.New(http.StatusRequestHeaderFieldsTooLarge, TypeHeadersTooLarge,
				"the request line and headers are larger than "+strconv.Itoa(MaxHeaderBytes)+" bytes"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerSize approximates the request's header bytes on the wire.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len(r.Host) + 8
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}
