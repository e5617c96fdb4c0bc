// Package bench measures Switchman deploying to a fleet of real OpenSSH
// hosts on loopback, against the floor of what the machine can do and side
// by side with Capistrano, Ansible and Fabric.
//
// Everything lives in the package's benchmarks, which `go test ./...` never
// runs; run them with `make bench-fleet` and `make bench-peers`. See
// README.md for the method, the knobs and the measured numbers.
package bench
