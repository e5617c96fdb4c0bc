package deploy

import "testing"

// TestMergeObserved: what a recovery read of each host goes into the
// interrupted record, and a host it could not read is marked so, whatever
// its state says: the report must not show it as read.
func TestMergeObserved(t *testing.T) {
	tests := []struct {
		name     string
		run      HostResult // as the dead run last recorded it
		observed HostResult // as the recovery found it
		want     HostResult
	}{
		{
			name:     "refused at recovery",
			run:      HostResult{Host: "web1", State: HostActive, Current: "2", Previous: "1", Switched: true},
			observed: HostResult{Host: "web1", State: HostFailed, Error: "host key mismatch"},
			want:     HostResult{Host: "web1", State: HostFailed, Current: "2", Previous: "1", Switched: true, Unread: true, Error: "host key mismatch"},
		},
		{
			name:     "unreachable at recovery",
			run:      HostResult{Host: "web1", State: HostPending, Current: "1"},
			observed: HostResult{Host: "web1", State: HostUnreachable, Error: "dial tcp: connection refused"},
			want:     HostResult{Host: "web1", State: HostUnreachable, Current: "1", Unread: true, Error: "dial tcp: connection refused"},
		},
		{
			name:     "failed in the run, read at recovery",
			run:      HostResult{Host: "web1", State: HostFailed, Current: "2", Previous: "1", Switched: true, Error: "health check failed"},
			observed: HostResult{Host: "web1", Current: "2", Previous: "1"},
			want:     HostResult{Host: "web1", State: HostFailed, Current: "2", Previous: "1", Switched: true, Error: "health check failed"},
		},
		{
			// The run could not reach it; the recovery could: the
			// record says what was read, not that it is unreachable.
			name:     "unreachable in the run, read at recovery",
			run:      HostResult{Host: "web1", State: HostUnreachable, Current: "1", Error: "dial tcp: connection refused"},
			observed: HostResult{Host: "web1", Current: "1"},
			want:     HostResult{Host: "web1", State: HostFailed, Current: "1", Error: "unreachable during the deploy: dial tcp: connection refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &Record{Kind: KindDeploy, Build: "2", Hosts: []HostResult{tt.run}}
			mergeObserved(rec, []HostResult{tt.observed})
			if got := rec.Hosts[0]; got.State != tt.want.State || got.Current != tt.want.Current || got.Switched != tt.want.Switched ||
				got.Unread != tt.want.Unread || got.Error != tt.want.Error {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
