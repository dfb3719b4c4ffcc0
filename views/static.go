package views

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// staticFiles holds every asset the console uses; nothing is fetched from
// outside, so the CSP can stay at 'self'.
//
//go:embed static/*.css static/*.js static/*.svg
var staticFiles embed.FS

// asset is one embedded file and the checksummed URL it is served at.
type asset struct {
	name        string // file name inside static/, e.g. "app.css"
	url         string // "/static/app.<hash>.css"
	contentType string
	hash        string // the hex digits in url, also the ETag
	body        []byte
}

// assetTable is what the package knows about its assets. The files are
// embedded, so the table is computed once and never changes afterwards.
type assetTable struct {
	byName map[string]*asset
	byURL  map[string]*asset
}

// assets builds the table on first use. The embedded files cannot change at
// run time, so a once-computed value is not mutable global state.
var assets = sync.OnceValue(func() *assetTable {
	t, err := buildAssetTable(staticFiles)
	if err != nil {
		// The files are compiled in: failing here means a broken build.
		panic(fmt.Sprintf("views: embedded assets: %v", err))
	}
	return t
})

// hashLen is how many hex digits of the SHA-256 go into an asset URL: 48
// bits is plenty to tell versions apart.
const hashLen = 12

func buildAssetTable(fsys fs.FS) (*assetTable, error) {
	t := &assetTable{byName: map[string]*asset{}, byURL: map[string]*asset{}}
	entries, err := fs.ReadDir(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("read static dir: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			continue // README and the like are not served
		}
		body, err := fs.ReadFile(fsys, "static/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(e.Name())
		hash := hex.EncodeToString(sum[:])[:hashLen]
		url := "/static/" + strings.TrimSuffix(e.Name(), ext) + "." + hash + ext
		a := &asset{name: e.Name(), url: url, contentType: ct, hash: hash, body: body}
		t.byName[a.name] = a
		t.byURL[a.url] = a
	}
	return t, nil
}

// contentTypes names the types we serve explicitly rather than sniffing
// (X-Content-Type-Options: nosniff makes a wrong type fatal for scripts).
var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

// AssetPath returns the checksummed URL of an embedded asset, e.g.
// "/static/app.1a2b3c4d5e6f.css". The checksum changes with the content, so
// the file can be cached forever. It panics on an unknown name: that is a
// programming error that the view tests catch.
func AssetPath(name string) string {
	a, ok := assets().byName[name]
	if !ok {
		panic(fmt.Sprintf("views: unknown asset %q", name))
	}
	return a.url
}

// StaticHandler serves the embedded assets at their checksummed paths with an
// immutable one-year cache lifetime; any other path is a 404.
func StaticHandler() http.Handler {
	t := assets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a, ok := t.byURL[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		// ServeContent handles HEAD, Range and If-None-Match (with the ETag).
		h.Set("ETag", `"`+a.hash+`"`)
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}
