package ingest

import (
	"context"
	"errors"
	"hash"
	"io"
	"sync"
)

// Sizes of the write path, chosen by measurement (see bench/upload).
const (
	writeBuffer    = 1 << 20  // most bytes per read, write and hash
	writeAtLeast   = 64 << 10 // fewest, unless the request ends: a slow sender's bytes reach the file soon
	writeBuffers   = 4
	writebackEvery = 8 << 20 // start writing back to disk after this many bytes
	// maxWriters bounds the requests writing at once, and so the memory
	// their buffers take (maxWriters × writeBuffers × writeBuffer = 128
	// MiB) however many uploads arrive together; the others wait their
	// turn with their bytes in the network's buffers.
	maxWriters = 32
)

var (
	writeSlots = make(chan struct{}, maxWriters)
	bufferPool = sync.Pool{New: func() any { return make([]byte, writeBuffer) }}
)

// acquireWriter waits for a turn to write; release it with close.
func acquireWriter(ctx context.Context) error {
	select {
	case writeSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chunkWriter appends one request's bytes to an upload's sink. Writing and
// hashing run side by side, a goroutine hashing each buffer while the next
// is read and written, because either alone leaves a core idle.
type chunkWriter struct {
	sink  sink
	h     hash.Hash // the whole upload
	chunk hash.Hash // this request, when it carries a checksum

	jobs    chan []byte
	free    chan []byte
	pending sync.WaitGroup
	done    chan struct{}

	sinceCheckpoint int64
}

func newChunkWriter(sk sink, h, chunk hash.Hash) *chunkWriter {
	w := &chunkWriter{
		sink: sk, h: h, chunk: chunk,
		jobs: make(chan []byte, writeBuffers),
		free: make(chan []byte, writeBuffers),
		done: make(chan struct{}),
	}
	for range writeBuffers {
		w.free <- bufferPool.Get().([]byte)
	}
	go w.hashLoop()
	return w
}

func (w *chunkWriter) hashLoop() {
	defer close(w.done)
	for b := range w.jobs {
		w.h.Write(b)
		if w.chunk != nil {
			w.chunk.Write(b)
		}
		w.free <- b[:cap(b)]
		w.pending.Done()
	}
}

// fill reads the next writeAtLeast bytes of src, or as much more as has
// arrived, up to a buffer. It returns io.EOF, or another error, once src has
// no more to give, possibly with a last short buffer.
func (w *chunkWriter) fill(src io.Reader) ([]byte, error) {
	buf := <-w.free
	n, err := io.ReadAtLeast(src, buf, writeAtLeast)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	if n == 0 {
		w.free <- buf
		return nil, err
	}
	return buf[:n], err
}

// write writes buf to the sink and hands it to the hasher. Only bytes
// that reached the sink count: after an error the caller abandons the
// chunk, hash state included.
func (w *chunkWriter) write(buf []byte) error {
	w.pending.Add(1)
	w.jobs <- buf
	w.sinceCheckpoint += int64(len(buf))
	return w.sink.write(buf)
}

// flush waits until every byte written has been hashed.
func (w *chunkWriter) flush() { w.pending.Wait() }

// close stops the hasher, returns the buffers and ends the writer's turn.
func (w *chunkWriter) close() {
	close(w.jobs)
	<-w.done
	for len(w.free) > 0 {
		bufferPool.Put(<-w.free)
	}
	<-writeSlots
}
