// Package fptest makes the test material of clip lookup: recordings of
// street scenes (speech from espeak-ng over traffic and crowd noise, and
// pictures that change every frame, each scene its own), and clips cut
// from them and degraded the ways a clip is on its way to a viral post.
// It needs ffmpeg, espeak-ng and the Go fonts; nothing is downloaded.
package fptest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/image/font/gofont/gobold"
)

// SceneRate is the sample rate scenes are built at.
const SceneRate = 16000

// Width and Height are the recordings' picture size; FPS their rate.
const (
	Width  = 640
	Height = 360
	FPS    = 30
)

var words = strings.Fields(`stop hands car officer license back step away camera phone filming right
	now sir ma'am please wait hold on what why where who going doing told already window door out slow
	down keep them up turn around ground sidewalk corner street light red blue north south east west
	seven twelve forty badge number name supervisor sergeant call record recording saw heard vehicle
	driver passenger bag pocket keys wallet jacket hat shoes running walking talking yelling calm quiet
	listen look there here left over under behind front between across near far hurt help medic water`)

var voices = []string{"en-us", "en", "en-gb-x-rp", "en-us+f3", "en+m3", "en-us+m7", "en+f2", "en-gb-scotland"}

// run runs a command, its error carrying what it said.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return nil
}

// readF32 decodes any sound file to mono f32 at rate.
func readF32(ctx context.Context, path string, rate int) ([]float32, error) {
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", path, "-ac", "1", "-ar", fmt.Sprint(rate), "-f", "f32le", "-").Output()
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	x := make([]float32, len(out)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(out[4*i:]))
	}
	return x, nil
}

func writeF32(path string, x []float32) error {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return os.WriteFile(path, b, 0o600)
}

// Sound is a scene's sound, seed by seed its own: traffic rumble and
// crowd hiss (ffmpeg's noise sources), and people talking (espeak-ng,
// sentences of random words in two voices at random moments), at
// SceneRate.
func Sound(ctx context.Context, dir string, seed int, seconds float64) ([]float32, error) {
	r := rand.New(rand.NewPCG(uint64(seed), 18))
	n := int(seconds * SceneRate)
	noise := filepath.Join(dir, fmt.Sprintf("noise-%d.wav", seed))
	if err := run(ctx, "ffmpeg", "-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("anoisesrc=c=brown:a=0.5:seed=%d:r=%d:d=%g", seed, SceneRate, seconds+1),
		"-f", "lavfi", "-i", fmt.Sprintf("anoisesrc=c=pink:a=0.08:seed=%d:r=%d:d=%g", seed+7919, SceneRate, seconds+1),
		"-filter_complex", "[0]lowpass=f=600,tremolo=f=0.1:d=0.6[a];[1]tremolo=f=0.4:d=0.4[b];[a][b]amix=inputs=2:normalize=0",
		"-ac", "1", noise); err != nil {
		return nil, err
	}
	scene, err := readF32(ctx, noise, SceneRate)
	if err != nil {
		return nil, err
	}
	if len(scene) < n {
		return nil, fmt.Errorf("noise of %d samples, want %d", len(scene), n)
	}
	scene = scene[:n]
	for i := range scene {
		scene[i] *= 0.3
	}
	for voice := range 2 {
		var text []string
		for range int(seconds / 3) {
			k := 3 + r.IntN(6)
			var s []string
			for range k {
				s = append(s, words[r.IntN(len(words))])
			}
			text = append(text, strings.Join(s, " ")+".")
		}
		wav := filepath.Join(dir, fmt.Sprintf("speech-%d-%d.wav", seed, voice))
		v := voices[(seed+voice*3)%len(voices)]
		if err := run(ctx, "espeak-ng", "-v", v, "-s", fmt.Sprint(130+r.IntN(40)), "-p", fmt.Sprint(25+r.IntN(40)),
			"-g", fmt.Sprint(20+r.IntN(30)), "-w", wav, strings.Join(text, " ")); err != nil {
			return nil, err
		}
		speech, err := readF32(ctx, wav, SceneRate)
		if err != nil {
			return nil, err
		}
		gain := float32(0.5 + 0.4*r.Float64())
		at := int((0.3 + r.Float64()*1.5) * SceneRate)
		for i, v := range speech {
			if at+i < n {
				scene[at+i] += gain * v
			}
		}
	}
	return scene, nil
}

// Recording writes an MP4 (H.264 640×360 at 30 frames a second, AAC) of
// seconds of scene seed into dir, and returns its path. Its pictures are
// the scene's own and move in every frame: three blocks of colour on
// their own paths over a cellular automaton and drifting gradients.
func Recording(ctx context.Context, dir string, seed int, seconds float64) (string, error) {
	sound, err := Sound(ctx, dir, seed, seconds)
	if err != nil {
		return "", err
	}
	raw := filepath.Join(dir, fmt.Sprintf("scene-%d.f32", seed))
	if err := writeF32(raw, sound); err != nil {
		return "", err
	}
	defer os.Remove(raw)
	r := rand.New(rand.NewPCG(uint64(seed), 30))
	args := []string{"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("gradients=s=160x90:r=%d:n=5:speed=0.03:seed=%d:d=%g", FPS, seed, seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("life=s=160x90:r=%d:ratio=0.3:mold=20:seed=%d:life_color=#ffffff:death_color=#000000:mold_color=#606060", FPS, seed),
		"-f", "f32le", "-ar", fmt.Sprint(SceneRate), "-ac", "1", "-i", raw}
	graph := fmt.Sprintf("[0]scale=%d:%d[g];[1]scale=%d:%d:flags=neighbor[l];[g][l]blend=all_mode=overlay:shortest=1[b0]", Width, Height, Width, Height)
	for i := range 3 {
		w, h := 60+r.IntN(160), 60+r.IntN(160)
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("color=c=0x%06x:s=%dx%d:r=%d", r.IntN(1<<24), w, h, FPS))
		graph += fmt.Sprintf(";[b%d][%d]overlay=x='%d+%d*sin(%.2f*t+%.2f)':y='%d+%d*sin(%.2f*t+%.2f)'[b%d]", i, 3+i,
			(Width-w)/2, (Width-w)/2, 0.4+r.Float64(), 6*r.Float64(), (Height-h)/2, (Height-h)/2, 0.4+r.Float64(), 6*r.Float64(), i+1)
	}
	out := filepath.Join(dir, fmt.Sprintf("scene-%d.mp4", seed))
	args = append(args, "-filter_complex", graph+";[b3]format=yuv420p[v]", "-map", "[v]", "-map", "2:a", "-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-g", "60", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", out)
	return out, run(ctx, "ffmpeg", args...)
}

// Degradation is one way a clip is changed on its way around: ffmpeg
// filters for its pictures and its sound, and what it mixes in.
type Degradation struct {
	Name string
	// Speed is how much faster the clip runs than what it was cut from.
	Speed float64
	// build returns ffmpeg arguments that read the cut clip (input 0)
	// and write the degraded one.
	build func(ctx context.Context, dir string, in string, seed int, seconds float64) ([]string, error)
}

// Degradations are the ten ways the lookup tests and benchmark degrade a
// clip.
var Degradations = []Degradation{
	{Name: "aac-32k", Speed: 1, build: simple("null", "anull", "-b:a", "32k")},
	{Name: "faster-3%", Speed: 1.03, build: simple("setpts=PTS/1.03", "atempo=1.03")},
	{Name: "slower-3%", Speed: 0.97, build: simple("setpts=PTS/0.97", "asetrate=48000*0.97,aresample=48000")},
	{Name: "music-0dB", Speed: 1, build: mixed(music, 1)},
	{Name: "pink-noise-0dB", Speed: 1, build: mixed(pink, 1)},
	{Name: "360p-crop-pillarbox", Speed: 1, build: simple("crop=ih*4/3:ih,scale=480:360,pad=640:360:80:0", "anull")},
	{Name: "logo", Speed: 1, build: withFont("drawbox=x=iw-170:y=16:w=150:h=54:color=0xd01010@0.85:t=fill," +
		"drawtext=fontfile=%s:text='NEWS 24':x=w-160:y=28:fontsize=28:fontcolor=white")},
	{Name: "captions", Speed: 1, build: withFont("drawtext=fontfile=%s:text='He said he was just filming - watch what happens next':" +
		"x=(w-text_w)/2:y=h-60:fontsize=22:fontcolor=white:box=1:boxcolor=black@0.7:boxborderw=8")},
	{Name: "phone-speaker", Speed: 1, build: simple("null",
		"highpass=f=450,lowpass=f=3400,acompressor=threshold=0.1:ratio=6,aecho=0.8:0.6:23|61:0.35|0.2,volume=0.5,aresample=16000,aresample=48000")},
	{Name: "sound-replaced", Speed: 1, build: mixed(music, 0)},
}

func simple(vf, af string, extra ...string) func(context.Context, string, string, int, float64) ([]string, error) {
	return func(_ context.Context, _ string, in string, _ int, _ float64) ([]string, error) {
		return append([]string{"-i", in, "-vf", vf, "-af", af}, extra...), nil
	}
}

func withFont(vf string) func(context.Context, string, string, int, float64) ([]string, error) {
	return func(_ context.Context, dir string, in string, _ int, _ float64) ([]string, error) {
		font := filepath.Join(dir, "gobold.ttf")
		if err := os.WriteFile(font, gobold.TTF, 0o600); err != nil {
			return nil, err
		}
		return []string{"-i", in, "-vf", fmt.Sprintf(vf, font)}, nil
	}
}

// mixed lays a sound over the clip's at 0 dB (the same loudness as the
// clip's own), keeping the clip's at keep (0: replaced).
func mixed(gen func(seed int, n int) []float32, keep float64) func(context.Context, string, string, int, float64) ([]string, error) {
	return func(ctx context.Context, dir string, in string, seed int, seconds float64) ([]string, error) {
		own, err := readF32(ctx, in, SceneRate)
		if err != nil {
			return nil, err
		}
		over := gen(seed, int(seconds*SceneRate)+SceneRate)
		scale := float32(rms(own) / math.Max(rms(over), 1e-9))
		for i := range over {
			over[i] *= scale
		}
		raw := filepath.Join(dir, fmt.Sprintf("over-%d.f32", seed))
		if err := writeF32(raw, over); err != nil {
			return nil, err
		}
		return []string{"-i", in, "-f", "f32le", "-ar", fmt.Sprint(SceneRate), "-ac", "1", "-i", raw,
			"-filter_complex", fmt.Sprintf("[0:a]volume=%g[a];[a][1:a]amix=inputs=2:duration=first:normalize=0[m]", keep),
			"-map", "0:v", "-map", "[m]"}, nil
	}
}

func rms(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / math.Max(float64(len(x)), 1))
}

// music is a tune: random notes of a pentatonic scale with harmonics
// over a bass line, four to a second.
func music(seed int, n int) []float32 {
	r := rand.New(rand.NewPCG(uint64(seed), 77))
	x := make([]float32, n)
	scale := []float64{0, 2, 4, 7, 9, 12, 14, 16}
	note := SceneRate / 4
	for start := 0; start < n; start += note {
		f := 220 * math.Pow(2, scale[r.IntN(len(scale))]/12)
		bass := 55 * math.Pow(2, scale[r.IntN(4)]/12)
		for i := 0; i < note && start+i < n; i++ {
			t := float64(i) / SceneRate
			env := math.Exp(-3 * t)
			v := 0.0
			for h := 1; h <= 4; h++ {
				v += math.Sin(2*math.Pi*f*float64(h)*t) / float64(h)
			}
			v = env*v + 0.5*math.Sin(2*math.Pi*bass*t)
			x[start+i] = float32(0.2 * v)
		}
	}
	return x
}

// pink is pink noise (Paul Kellet's filter over white noise).
func pink(seed int, n int) []float32 {
	r := rand.New(rand.NewPCG(uint64(seed), 99))
	x := make([]float32, n)
	var b0, b1, b2, b3, b4, b5, b6 float64
	for i := range x {
		w := r.NormFloat64()
		b0 = 0.99886*b0 + w*0.0555179
		b1 = 0.99332*b1 + w*0.0750759
		b2 = 0.96900*b2 + w*0.1538520
		b3 = 0.86650*b3 + w*0.3104856
		b4 = 0.55000*b4 + w*0.5329522
		b5 = -0.7616*b5 - w*0.0168980
		x[i] = float32((b0 + b1 + b2 + b3 + b4 + b5 + b6 + w*0.5362) * 0.05)
		b6 = w * 0.115926
	}
	return x
}

// Clip cuts seconds from recording at from (exactly: decoded and
// encoded again) and degrades it as d, into dir; seed picks what is
// mixed in. It returns the clip's path.
func Clip(ctx context.Context, dir, recording string, from, seconds float64, d Degradation, seed int) (string, error) {
	cut := filepath.Join(dir, fmt.Sprintf("cut-%d.mkv", seed))
	if err := run(ctx, "ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", fmt.Sprint(from), "-i", recording, "-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-qp", "10", "-c:a", "pcm_s16le", cut); err != nil {
		return "", err
	}
	defer os.Remove(cut)
	args, err := d.build(ctx, dir, cut, seed, seconds)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, fmt.Sprintf("clip-%d-%s.mp4", seed, d.Name))
	args = append([]string{"-nostdin", "-v", "error", "-y"}, args...)
	args = append(args, "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-c:a", "aac")
	if !strings.Contains(strings.Join(args, " "), "-b:a") {
		args = append(args, "-b:a", "96k")
	}
	return out, run(ctx, "ffmpeg", append(args, out)...)
}
