// The load generator of bench/net (stdlib only, built at bench time in GOPATH mode).
//
//	load rtt   ADDR SECONDS          one connection, 64-byte ping-pong: round-trip p50/p99
//	load msgs  ADDR SECONDS CONNS    CONNS connections, each a 64-byte ping-pong: messages/s
//	load conns ADDR SECONDS DIALERS  DIALERS loops of dial, send 1 byte, read it, close
//
// Prints one JSON object: count, errors, elapsed seconds, p50_us and p99_us (of the
// round trip, or of the whole dial-to-close for conns).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

const msgSize = 64

type result struct {
	Mode     string  `json:"mode"`
	Count    int     `json:"count"`
	Errors   int     `json:"errors"`
	Elapsed  float64 `json:"elapsed"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	FirstErr string  `json:"first_error,omitempty"`
}

type worker struct {
	lat    []time.Duration
	count  int
	errors int
	err    string
}

func (w *worker) fail(err error) {
	w.errors++
	if w.err == "" {
		w.err = err.Error()
	}
}

// pingPong sends 64 bytes and reads 64 back until the deadline.
func pingPong(c net.Conn, until time.Time, w *worker) {
	out := make([]byte, msgSize)
	for i := range out {
		out[i] = 'x'
	}
	in := make([]byte, msgSize)
	for {
		t0 := time.Now()
		if !t0.Before(until) {
			return
		}
		if _, err := c.Write(out); err != nil {
			w.fail(err)
			return
		}
		if _, err := io.ReadFull(c, in); err != nil {
			w.fail(err)
			return
		}
		w.lat = append(w.lat, time.Since(t0))
		w.count++
	}
}

// connOnce dials, sends one byte, reads the echo and closes.
func connOnce(addr string, w *worker) {
	t0 := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		w.fail(err)
		return
	}
	defer c.Close()
	c.SetDeadline(t0.Add(5 * time.Second))
	if _, err := c.Write([]byte{'x'}); err != nil {
		w.fail(err)
		return
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		w.fail(err)
		return
	}
	w.lat = append(w.lat, time.Since(t0))
	w.count++
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: load rtt|msgs|conns ADDR SECONDS [N]")
		os.Exit(2)
	}
	mode, addr := os.Args[1], os.Args[2]
	secs, err := strconv.ParseFloat(os.Args[3], 64)
	if err != nil {
		panic(err)
	}
	n := 1
	if len(os.Args) > 4 {
		if n, err = strconv.Atoi(os.Args[4]); err != nil {
			panic(err)
		}
	}
	if mode == "rtt" {
		n = 1
	}
	dur := time.Duration(secs * float64(time.Second))
	workers := make([]*worker, n)
	for i := range workers {
		workers[i] = &worker{}
	}
	var wg sync.WaitGroup
	var start time.Time
	switch mode {
	case "rtt", "msgs":
		conns := make([]net.Conn, n)
		for i := range conns {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				panic(err)
			}
			conns[i] = c
		}
		start = time.Now()
		until := start.Add(dur)
		for i := range conns {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer conns[i].Close()
				pingPong(conns[i], until, workers[i])
			}(i)
		}
	case "conns":
		start = time.Now()
		until := start.Add(dur)
		for i := range workers {
			wg.Add(1)
			go func(w *worker) {
				defer wg.Done()
				for time.Now().Before(until) {
					connOnce(addr, w)
				}
			}(workers[i])
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
	wg.Wait()
	res := result{Mode: mode, Elapsed: time.Since(start).Seconds()}
	var lat []time.Duration
	for _, w := range workers {
		res.Count += w.count
		res.Errors += w.errors
		if res.FirstErr == "" {
			res.FirstErr = w.err
		}
		lat = append(lat, w.lat...)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return -1
		}
		return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3
	}
	res.P50us, res.P99us = pct(0.50), pct(0.99)
	json.NewEncoder(os.Stdout).Encode(res)
}
