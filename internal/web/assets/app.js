// The upload page: a tus upload with progress, pause and resume, using
// tus-js-client bundled into the server (no third-party origin).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("upload-form");
  const pauseBtn = $("pause");
  const startBtn = $("start");
  let upload = null;
  let paused = false;

  const maxSize = $("max-size");
  maxSize.textContent = humanSize(Number(maxSize.dataset.bytes));

  function humanSize(n) {
    const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function status(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const file = $("file").files[0];
    if (!file) return;
    const metadata = { filename: file.name, source: $("source").value };
    for (const k of ["device", "officer", "note"]) {
      const v = $(k).value.trim();
      if (v) metadata[k] = v;
    }
    $("result").hidden = true;
    $("progress-box").hidden = false;
    startBtn.disabled = true;
    pauseBtn.disabled = false;
    paused = false;
    pauseBtn.textContent = "Pause";
    status("Starting…");

    upload = new tus.Upload(file, {
      endpoint: "/api/v1/uploads/",
      chunkSize: 16 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata: metadata,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => {
        const pct = total ? (sent / total) * 100 : 0;
        $("progress").value = pct;
        status(humanSize(sent) + " of " + humanSize(total) + " received (" + pct.toFixed(1) + "%)");
      },
      onError: (err) => {
        const res = err.originalResponse;
        const body = res ? res.getBody() : "";
        status("Upload failed: " + (body || err.message), true);
        startBtn.disabled = false;
        pauseBtn.disabled = true;
      },
      onSuccess: () => {
        pauseBtn.disabled = true;
        status("Received. Checking the stored file…");
        fetchEvidence(upload.url + "/evidence", 0);
      },
    });
    // Resume an earlier upload of the same file (after a reload or a crash).
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
      }
      upload.start();
    });
  });

  pauseBtn.addEventListener("click", () => {
    if (!upload) return;
    if (!paused) {
      upload.abort();
      paused = true;
      pauseBtn.textContent = "Resume";
      status("Paused. " + $("status").textContent);
    } else {
      paused = false;
      pauseBtn.textContent = "Pause";
      status("Resuming…");
      upload.start();
    }
  });

  function fetchEvidence(url, attempt) {
    fetch(url, { cache: "no-store" }).then((res) => {
      if (res.status === 404 && attempt < 10) {
        setTimeout(() => fetchEvidence(url, attempt + 1), 500);
        return null;
      }
      if (!res.ok) throw new Error("server answered " + res.status);
      return res.json();
    }).then((ev) => {
      if (!ev) return;
      $("r-id").textContent = ev.id;
      $("r-sha").textContent = ev.sha256;
      $("r-size").textContent = humanSize(ev.size) + " (" + ev.size + " bytes)";
      $("r-received").textContent = ev.received_at;
      $("r-token").textContent = ev.access_token;
      const blob = new Blob([JSON.stringify(ev, null, 2)], { type: "application/json" });
      $("r-save").href = URL.createObjectURL(blob);
      $("r-save").download = (ev.filename || ev.id) + ".sightline.json";
      $("result").hidden = false;
      status("Stored. " + humanSize(ev.size) + " kept exactly as sent.");
      startBtn.disabled = false;
    }).catch((err) => status("Could not read the stored evidence: " + err.message, true));
  }
})();
