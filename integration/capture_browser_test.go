package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
)

// captureState is what the capture page says of its recording
// (window.sightlineCapture.state()).
type captureState struct {
	Started   int64  `json:"started"` // when the recorder started, in ms since 1970
	UploadURL string `json:"uploadURL"`
	Recorded  int64  `json:"recorded"`
	Acked     int64  `json:"acked"`
	Stopped   bool   `json:"stopped"`
	Offline   bool   `json:"offline"`
	Recording bool   `json:"recording"`
	Pending   struct {
		Chunks int   `json:"chunks"`
		Bytes  int64 `json:"bytes"`
	} `json:"pending"`
	Evidence *struct {
		ID      string `json:"id"`
		Size    int64  `json:"size"`
		Partial bool   `json:"partial"`
	} `json:"evidence"`
	Token string `json:"token"`
	Error string `json:"error"`
	// Page is the evidence page's link, shown from the first safe bytes.
	Page *struct {
		Link string `json:"link"`
		ID   string `json:"id"`
	} `json:"page"`
	// Parts are the earlier parts of a recording kept as partial while
	// the phone was away.
	Parts []struct {
		Evidence struct {
			ID      string `json:"id"`
			Size    int64  `json:"size"`
			Partial bool   `json:"partial"`
		} `json:"evidence"`
		Token string `json:"token"`
	} `json:"parts"`
}

func pageState(t *testing.T, ctx context.Context) captureState {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[captureState](`window.sightlineCapture.state()`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startRecording opens the capture page in ctx, presses the record
// button and waits until the server has acknowledged the first bytes. It
// returns when the recorder started (the camera takes a moment after the
// press, longer on a busy machine).
// With base "", the page is already open.
func startRecording(t *testing.T, ctx context.Context, base string) time.Time {
	t.Helper()
	if base != "" {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/capture"), chromedp.WaitVisible(chromedp.ID("record"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("record"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(window.sightlineCapture.state().acked || 0) > 0`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("no bytes acknowledged: %v\n%s", err, page)
	}
	return time.UnixMilli(pageState(t, ctx).Started)
}

// setOffline cuts the page's network (requests fail, navigator.onLine is
// false) or restores it.
func setOffline(offline bool) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		if _, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1}},
		}); err != nil {
			return chromedp.Void{}, err
		}
		_, err := cdp.Call(ctx, t, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: offline, DownloadThroughput: -1, UploadThroughput: -1})
		return chromedp.Void{}, err
	}
}

// fetchEvidence downloads an item's original and its receipt with the
// civilian's token into dir, as `sightline verify` expects them
// (FILE and FILE.receipt.json), and returns the file's path.
func fetchEvidence(t *testing.T, base, dir string, ev client.Receipt) string {
	t.Helper()
	file := filepath.Join(dir, ev.ID+".webm")
	for _, f := range []struct{ path, to string }{{"original", file}, {"receipt", file + ".receipt.json"}} {
		b, err := bearer("GET", base+"/api/v1/evidence/"+ev.ID+"/"+f.path, ev.AccessToken, "", http.StatusOK)
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		if err := os.WriteFile(f.to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return file
}

// videoFrames decodes every video frame of the file and returns their
// times in seconds.
func videoFrames(t *testing.T, file string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var ts []float64
	for line := range strings.Lines(string(out)) {
		if v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), ",")), 64); err == nil {
			ts = append(ts, v)
		}
	}
	return ts
}

// verifyOffline runs `sightline verify` on a file and its receipt with
// the log's key.
func verifyOffline(t *testing.T, data, file, sha string) {
	t.Helper()
	out, errOut, err := sightline(t, "verify", file, "--key", logKey(t, data))
	if err != nil || !strings.HasPrefix(out, "OK: "+sha+" logged at index ") {
		t.Fatalf("sightline verify: %v %q %q", err, out, errOut)
	}
}

// A phone records on the capture page and is taken 8 s in: the page is
// closed without stopping. After the server's silence limit (3 s here)
// what arrived is evidence marked partial: byte for byte what the phone
// recorded, up to at least what the page saw acknowledged, as video that
// decodes, whose receipt verifies offline, and whose partial events, at
// most 10 s apart, each give the SHA-256 of the bytes received by then,
// the last all of them.
func TestSeizedPhoneKeepsWhatReachedTheServer(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0, "--partial-after", "3s")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	tab, closeTab := chromedp.NewContext(ctx)
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+"/capture"), chromedp.WaitVisible(chromedp.ID("record"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`window.sightlineCapture.keepCopy = true`)); err != nil {
		t.Fatal(err)
	}
	pressed := startRecording(t, tab, "")
	// While recording, the page shows its evidence page's link, to send
	// to someone trusted; opened now, it says the footage is on its way.
	if _, err := chromedp.Run(tab, chromedp.Poll[bool](`!document.getElementById("early").hidden && document.getElementById("early-link").href.includes("/e/")`,
		chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatalf("no evidence link while recording: %v", err)
	}
	link, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("early-link").href`))
	friend := browser(t)
	if err := chromedp.Do(friend, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("arriving"))); err != nil {
		t.Fatalf("the link opened while recording: %v", err)
	}
	time.Sleep(time.Until(pressed.Add(8 * time.Second)))
	st := pageState(t, tab)
	recorded, err := chromedp.Run(tab, chromedp.Evaluate[string](fmt.Sprintf(`window.sightlineCapture.copyDigest(%d)`, st.Acked), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	closeTab() // the phone is gone, mid-recording
	if st.UploadURL == "" || !st.Recording {
		t.Fatalf("page state before closing: %+v", st)
	}

	var ev client.Receipt
	deadline := time.Now().Add(time.Minute)
	for {
		if err := getJSON(st.UploadURL+"/evidence", "", &ev); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no partial evidence a minute after the page closed:\n%s", srv.logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !ev.Partial || ev.Size < st.Acked {
		t.Fatalf("evidence partial=%v size=%d; want partial, at least the %d bytes the page saw acknowledged", ev.Partial, ev.Size, st.Acked)
	}
	// The friend's page, open since the recording began, shows the kept
	// footage once the server has it.
	if st.Page == nil || st.Page.ID != ev.ID || !strings.HasSuffix(link, "/e/"+ev.ID+"#token="+ev.AccessToken) {
		t.Errorf("the early link %q (%+v) is not the evidence page of %s with its token", link, st.Page, ev.ID)
	}
	if _, err := chromedp.Run(friend, chromedp.Poll[bool](`!document.getElementById("footage").hidden && document.getElementById("e-id").textContent === "`+ev.ID+`"`,
		chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Errorf("the early link never showed the kept footage: %v", err)
	}
	// (A busy machine makes the browser's camera and encoder start late
	// and drop frames: how many seconds 8 s of wall clock hold varies.)
	if ev.DurationS == nil || *ev.DurationS < 3 || !ev.Unindexed {
		t.Errorf("duration %v unindexed %v; want several seconds read from the packets", ev.DurationS, ev.Unindexed)
	}

	dir := t.TempDir()
	file := fetchEvidence(t, srv.URL, dir, ev)
	if got := fileSHA(t, file); got != ev.SHA256.String() {
		t.Fatalf("original's SHA-256 %s, evidence says %s", got, ev.SHA256)
	}
	original, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(original[:st.Acked]); hex.EncodeToString(sum[:]) != recorded {
		t.Fatalf("the first %d bytes of the original are not what the phone recorded", st.Acked)
	}
	// Playable throughout: frames decoded over several seconds (how many
	// depends on how many a loaded machine's encoder dropped: 18 in 5.8 s
	// has been seen).
	frames := videoFrames(t, file)
	if len(frames) < 6 || frames[len(frames)-1]-frames[0] < 3 {
		t.Errorf("%d frames decoded %v; want seconds of playable video", len(frames), frames)
	}
	verifyOffline(t, data, file, ev.SHA256.String())

	// The partial events prove the bytes as they arrived.
	var custody struct {
		Events []evidence.LoggedEvent `json:"events"`
	}
	if err := getJSON(srv.URL+"/api/v1/evidence/"+ev.ID+"/custody", ev.AccessToken, &custody); err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	var last time.Time
	for _, e := range custody.Events {
		if e.Type != evidence.Partial {
			continue
		}
		n, _ := strconv.ParseInt(e.Details["size"], 10, 64)
		if n <= 0 || n > int64(len(original)) || (len(sizes) > 0 && n <= sizes[len(sizes)-1]) {
			t.Fatalf("partial event sizes out of order: %v then %d", sizes, n)
		}
		if sum := sha256.Sum256(original[:n]); e.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("partial event at %d bytes names %s, not the SHA-256 of those bytes", n, e.SHA256)
		}
		at, _ := time.Parse(time.RFC3339Nano, e.At)
		if !last.IsZero() && at.Sub(last) > 11*time.Second {
			t.Errorf("partial events %v apart, want at most 10 s", at.Sub(last))
		}
		sizes, last = append(sizes, n), at
	}
	if len(sizes) < 2 || sizes[len(sizes)-1] != ev.Size {
		t.Errorf("partial events cover %v bytes; want at least two, the last all %d", sizes, ev.Size)
	}
}

// The network drops for 4 s in the middle of a 12-s recording: the page
// says so and keeps the chunks, then sends them when it returns. The
// evidence is whole: every byte recorded, no gap in the video, and the
// receipt, token and evidence page link are on the page.
func TestCaptureSurvivesANetworkDrop(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/capture"), chromedp.WaitVisible(chromedp.ID("record"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sightlineCapture.keepCopy = true`)); err != nil {
		t.Fatal(err)
	}
	pressed := startRecording(t, ctx, "")

	time.Sleep(time.Until(pressed.Add(3 * time.Second)))
	if err := chromedp.Do(ctx, setOffline(true)); err != nil {
		t.Fatal(err)
	}
	before := pageState(t, ctx)
	time.Sleep(4 * time.Second)
	during := pageState(t, ctx)
	if !during.Offline || during.Pending.Chunks < 2 || during.Recorded <= before.Recorded {
		t.Errorf("4 s offline, the page says offline=%v with %d chunks waiting (recorded %d → %d)",
			during.Offline, during.Pending.Chunks, before.Recorded, during.Recorded)
	}
	if during.Acked > before.Recorded {
		t.Errorf("acknowledged %d bytes while offline, but only %d were recorded before", during.Acked, before.Recorded)
	}
	shown, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("waiting")))
	if !strings.Contains(shown, "no connection") {
		t.Errorf("the page says %q of what waits, want it to say there is no connection", shown)
	}
	if err := chromedp.Do(ctx, setOffline(false)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(pressed.Add(12 * time.Second)))
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("record"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!window.sightlineCapture.state().evidence`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("no evidence after stopping: %v\n%s", err, srv.logs)
	}
	st := pageState(t, ctx)
	if st.Evidence.Partial || st.Evidence.Size != st.Recorded || st.Pending.Chunks != 0 {
		t.Fatalf("evidence %+v, page recorded %d bytes with %d chunks waiting", st.Evidence, st.Recorded, st.Pending.Chunks)
	}

	var ev client.Receipt
	if err := getJSON(st.UploadURL+"/evidence", "", &ev); err != nil {
		t.Fatal(err)
	}
	file := fetchEvidence(t, srv.URL, t.TempDir(), ev)
	// Every byte the phone recorded, none twice: the original is exactly
	// the page's own copy. (A busy machine makes the browser's encoder drop
	// frames, so the video's frame rate says nothing about the upload.)
	want, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.sightlineCapture.copyDigest()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if ev.SHA256.String() != want {
		t.Fatalf("the original (%s) is not the bytes the phone recorded (%s)", ev.SHA256, want)
	}
	frames := videoFrames(t, file)
	if len(frames) < 12 || frames[len(frames)-1]-frames[0] < 6 {
		t.Fatalf("%d frames decoded %v; want a 12-s recording that decodes", len(frames), frames)
	}
	verifyOffline(t, data, file, ev.SHA256.String())

	// The receipt is on the page, with the token and the way back.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("receipt"))); err != nil {
		t.Fatal(err)
	}
	token, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("r-token")))
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("r-page").href`))
	saved, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("r-save").download`))
	if token != ev.AccessToken || !strings.Contains(href, "/e/"+ev.ID+"#token=") || saved != ev.ID+".sightline.json" {
		t.Errorf("receipt panel: token %q, page link %q, saved as %q", token, href, saved)
	}
}

// The network drops for longer than the server waits (--partial-after):
// the server keeps what arrived as partial evidence. When the network
// returns, the server tells the page so, and the page sends the rest of
// the recording as a new item that continues the partial one. The two
// items, joined, are every byte the phone recorded.
func TestPhoneBackAfterPartialSendsTheRest(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, 0, "--partial-after", "2s")
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/capture"), chromedp.WaitVisible(chromedp.ID("record"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.sightlineCapture.keepCopy = true`)); err != nil {
		t.Fatal(err)
	}
	startRecording(t, ctx, "")
	// Enough acknowledged to be recognised as a recording (the first bytes
	// may be a few: a busy machine's recorder starts slowly), or the
	// silent stream is rightly discarded as not media.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.sightlineCapture.state().acked >= 16384`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("16 KiB not acknowledged: %v\n%+v", err, pageState(t, ctx))
	}
	if err := chromedp.Do(ctx, setOffline(true)); err != nil {
		t.Fatal(err)
	}
	// Offline until the server has kept the stream as partial evidence.
	st := pageState(t, ctx)
	var first client.Receipt
	deadline := time.Now().Add(2 * time.Minute)
	for getJSON(st.UploadURL+"/evidence", "", &first) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no partial evidence two minutes into the silence:\n%s", srv.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !first.Partial {
		t.Fatalf("the first part is not partial: %+v", first)
	}
	if err := chromedp.Do(ctx, setOffline(false)); err != nil {
		t.Fatal(err)
	}
	// Back online: the page learns the first part was kept and goes on
	// with a new upload; more is recorded and sent, then it stops.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const s = window.sightlineCapture.state();
		return s.parts.length === 1 && s.acked > s.parts[0].evidence.size + 20000; })()`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("the page did not go on after the partial part: %v\n%+v\n%s", err, pageState(t, ctx), srv.logs)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("record"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!window.sightlineCapture.state().evidence`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatalf("no evidence after stopping: %v\n%+v", err, pageState(t, ctx))
	}
	st = pageState(t, ctx)
	if len(st.Parts) != 1 || st.Parts[0].Evidence.ID != first.ID || st.Error != "" {
		t.Fatalf("the page holds parts %+v (error %q); want the partial item %s", st.Parts, st.Error, first.ID)
	}
	var rest client.Receipt
	if err := getJSON(srv.URL+"/api/v1/evidence/"+st.Evidence.ID, st.Token, &rest); err != nil {
		t.Fatal(err)
	}
	if rest.Continues != first.ID || first.Size+rest.Size != st.Recorded {
		t.Fatalf("the rest continues %q with %d bytes; the first part has %d; the page recorded %d", rest.Continues, rest.Size, first.Size, st.Recorded)
	}
	var joined []byte
	for _, p := range []struct{ id, token string }{{first.ID, st.Parts[0].Token}, {rest.ID, st.Token}} {
		b, err := bearer("GET", srv.URL+"/api/v1/evidence/"+p.id+"/original", p.token, "", http.StatusOK)
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, b...)
	}
	want, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.sightlineCapture.copyDigest()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(joined); hex.EncodeToString(sum[:]) != want {
		t.Errorf("the two items joined (%d bytes) are not what the phone recorded (%d bytes)", len(joined), st.Recorded)
	}
	file := filepath.Join(t.TempDir(), "joined.webm")
	if err := os.WriteFile(file, joined, 0o600); err != nil {
		t.Fatal(err)
	}
	// The rest decodes as the continuation of the first part: the joined
	// recording has more frames than the first part alone. (How many the
	// fake camera made depends on how busy the machine was.)
	firstFile := filepath.Join(t.TempDir(), "first.webm")
	if err := os.WriteFile(firstFile, joined[:first.Size], 0o600); err != nil {
		t.Fatal(err)
	}
	if frames, before := videoFrames(t, file), videoFrames(t, firstFile); len(frames) <= len(before) {
		t.Errorf("the joined recording decodes to %d frames, the first part alone to %d", len(frames), len(before))
	}
}
