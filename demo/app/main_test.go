package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name     string
		broken   bool
		method   string
		path     string
		wantCode int
		wantBody string
	}{
		{name: "health ok", method: "GET", path: "/health", wantCode: 200, wantBody: "ok build=42\n"},
		{name: "health broken", broken: true, method: "GET", path: "/health", wantCode: 500, wantBody: "broken build=42\n"},
		{name: "root", method: "GET", path: "/", wantCode: 200, wantBody: "hello from demo build 42\n"},
		{name: "root of a broken build", broken: true, method: "GET", path: "/", wantCode: 200, wantBody: "hello from demo build 42\n"},
		{name: "head health", method: "HEAD", path: "/health", wantCode: 200},
		{name: "unknown path", method: "GET", path: "/nope", wantCode: 404},
		{name: "post health", method: "POST", path: "/health", wantCode: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.broken {
				if err := os.WriteFile(filepath.Join(dir, "BROKEN"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			srv := httptest.NewServer(newHandler("42", dir))
			t.Cleanup(srv.Close)

			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status: got %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body: got %q, want %q", body, tt.wantBody)
			}
		})
	}
}

// TestHandlerBrokenAtRuntime checks that BROKEN is looked for on every
// request, not once at start-up.
func TestHandlerBrokenAtRuntime(t *testing.T) {
	dir := t.TempDir()
	h := newHandler("7", dir)
	get := func() int {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		return rec.Code
	}
	if got := get(); got != 200 {
		t.Fatalf("before BROKEN: got %d, want 200", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "BROKEN"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != 500 {
		t.Fatalf("with BROKEN: got %d, want 500", got)
	}
}

func TestReadBuild(t *testing.T) {
	tests := []struct {
		name    string
		content *string
		want    string
		wantErr bool
	}{
		{name: "trailing newline", content: ptr("3\n"), want: "3"},
		{name: "no newline", content: ptr("v1.2.0"), want: "v1.2.0"},
		{name: "empty", content: ptr("\n"), wantErr: true},
		{name: "missing", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != nil {
				if err := os.WriteFile(filepath.Join(dir, "BUILD"), []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readBuild(dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("build: got %q, want %q", got, tt.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
