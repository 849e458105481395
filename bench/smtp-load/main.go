// smtp-load: a compiled SMTP load client, so that the client is never the wall
// when a relay is measured. net/smtp as a plain client uses it: Dial, Hello,
// Auth(PlainAuth) when given credentials, then Mail/Rcpt/Data per message on one
// connection per session. Prints one JSON line: msg/s, p50 and p99 in ms.
//
//	smtp-load -address 127.0.0.1:2525 -sessions 16 -messages 20000 -size 2000
//
// With -http URL it posts the same load as JSON to the HTTP door instead
// (Authorization: Bearer <password>, {"sender": <username>, ...}), one
// keep-alive connection per session, so both doors are driven by the same client.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/smtp"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	address := flag.String("address", "127.0.0.1:25", "SMTP server host:port")
	sessions := flag.Int("sessions", 16, "concurrent sessions (one connection each)")
	messages := flag.Int("messages", 20000, "messages in all, shared among the sessions")
	size := flag.Int("size", 2000, "approximate body size in bytes")
	username := flag.String("username", "", "AUTH PLAIN username (none: no AUTH); with -http, the sender identity")
	password := flag.String("password", "", "AUTH PLAIN password; with -http, the bearer token")
	from := flag.String("from", "bench@example.com", "MAIL FROM and From:")
	httpURL := flag.String("http", "", "post JSON to this URL instead of speaking SMTP")
	raw := flag.Bool("raw", false, "also print every latency (µs), for merging runs")
	flag.Parse()

	body := strings.Repeat(strings.Repeat("x", 75)+"\r\n", max(1, *size/77))
	var next atomic.Int64
	latencies := make([][]time.Duration, *sessions)
	errs := make(chan error, *sessions)
	var wg sync.WaitGroup
	started := time.Now()
	for s := range *sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if *httpURL != "" {
				latencies[s], err = httpSession(*httpURL, *username, *password, body, *messages, &next)
			} else {
				latencies[s], err = smtpSession(*address, *username, *password, *from, body, *messages, &next)
			}
			if err != nil {
				errs <- fmt.Errorf("session %d: %w", s, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(started)
	close(errs)
	failed := false
	for err := range errs {
		fmt.Fprintln(os.Stderr, "smtp-load:", err)
		failed = true
	}

	all := slices.Concat(latencies...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p/100*float64(len(all))))].Microseconds()) / 1000
	}
	out := map[string]any{
		"messages":  len(all),
		"seconds":   elapsed.Seconds(),
		"msgPerSec": float64(len(all)) / elapsed.Seconds(),
		"p50Ms":     pct(50),
		"p99Ms":     pct(99),
	}
	if *raw {
		us := make([]int64, len(all))
		for i, d := range all {
			us[i] = d.Microseconds()
		}
		out["latenciesUs"] = us
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
	if failed || len(all) != *messages {
		fmt.Fprintf(os.Stderr, "smtp-load: %d of %d messages sent\n", len(all), *messages)
		os.Exit(1)
	}
}

func smtpSession(address, username, password, from, body string, total int, next *atomic.Int64) ([]time.Duration, error) {
	c, err := smtp.Dial(address)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Hello("smtp-load.bench"); err != nil {
		return nil, err
	}
	if username != "" {
		host := address[:strings.LastIndex(address, ":")]
		// net/smtp sends PLAIN in the clear only to localhost and 127.0.0.1, as here.
		if err := c.Auth(smtp.PlainAuth("", username, password, host)); err != nil {
			return nil, err
		}
	}
	var out []time.Duration
	for i := int(next.Add(1)) - 1; i < total; i = int(next.Add(1)) - 1 {
		to := fmt.Sprintf("rcpt%d@example.com", i)
		t := time.Now()
		if err := c.Mail(from); err != nil {
			return out, err
		}
		if err := c.Rcpt(to); err != nil {
			return out, err
		}
		w, err := c.Data()
		if err != nil {
			return out, err
		}
		fmt.Fprintf(w, "From: Bench <%s>\r\nTo: <%s>\r\nSubject: bench message %d\r\nDate: %s\r\nMessage-ID: <%d.%d@smtp-load.bench>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s",
			from, to, i, t.UTC().Format(time.RFC1123Z), t.UnixNano(), i, body)
		if err := w.Close(); err != nil { // the reply to the final dot
			return out, err
		}
		out = append(out, time.Since(t))
	}
	return out, c.Quit()
}

func httpSession(url, sender, token, body string, total int, next *atomic.Int64) ([]time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	var out []time.Duration
	for i := int(next.Add(1)) - 1; i < total; i = int(next.Add(1)) - 1 {
		payload, _ := json.Marshal(map[string]any{
			"sender":  sender,
			"to":      []string{fmt.Sprintf("rcpt%d@example.com", i)},
			"subject": fmt.Sprintf("bench message %d", i),
			"text":    body,
		})
		t := time.Now()
		req, _ := http.NewRequest("POST", url, bytes.NewReader(payload))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return out, err
		}
		text, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return out, fmt.Errorf("HTTP %d: %s", res.StatusCode, text)
		}
		out = append(out, time.Since(t))
	}
	return out, nil
}
