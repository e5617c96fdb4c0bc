package haproxy

import (
	"testing"
	"time"
)

// showStatRow is an answer to `show stat app 4 -1` whose host0 row has
// the given status, check_status, check_code and last_chk, as HAProxy 2.6
// writes them.
func showStatRow(status, check, code, detail string) string {
	return "# pxname,svname,scur,status,check_status,check_code,last_chk,\n" +
		"app,host0,0," + status + "," + check + "," + code + "," + detail + ",\n\n"
}

func TestNotUpNamesTheLastCompletedCheck(t *testing.T) {
	l7sts503 := showStatRow("DOWN", "L7STS", "503", "Service Unavailable")
	// While a check runs, HAProxy keeps the previous check's status,
	// prefixed with "* ", but has already reset the code and the text
	// (seen on HAProxy 2.6 polling a server that answers 503).
	running := showStatRow("DOWN", "* L7STS", "0", "")
	tests := []struct {
		name  string
		reads []string // the answers Ready read, in turn
		want  string
	}{
		{"a completed check", []string{l7sts503}, "L7STS 503: Service Unavailable"},
		{"a check running after one completed", []string{l7sts503, running}, "L7STS 503: Service Unavailable"},
		{"checks completing and running", []string{running, l7sts503, running, running}, "L7STS 503: Service Unavailable"},
		{"only a running check seen", []string{running}, "L7STS"},
		{"another result completed between reads", []string{l7sts503, showStatRow("DOWN", "* L4CON", "", "")}, "L4CON"},
		{"the latest completed check", []string{l7sts503, showStatRow("DOWN", "L4CON", "", "Connection refused")}, "L4CON: Connection refused"},
		{"no check completed yet", []string{showStatRow("DOWN", "INI", "", "Initializing")}, "none yet"},
		{"the first check running", []string{showStatRow("DOWN", "* INI", "", "")}, "none yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var last checkStatus
			for _, out := range tt.reads {
				st, err := parseCheckStatus(out, "app", "host0")
				if err != nil {
					t.Fatalf("parseCheckStatus(%q): %v", out, err)
				}
				last = st.since(last)
			}
			err := (&Pool{Backend: "app"}).notUp("host0", time.Second, last, nil)
			want := "haproxy: app/host0 was set ready but is not up after 1s (status DOWN, last check " + tt.want + ")"
			if err.Error() != want {
				t.Errorf("got %q, want %q", err, want)
			}
		})
	}
}
