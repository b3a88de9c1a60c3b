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

  // fetchEvidence reads back what the upload became, its receipt and its
  // token, and shows them with the record to save.
  function fetchEvidence(url, attempt) {
    fetch(url, { cache: "no-store" }).then((res) => {
      if (res.status === 404 && attempt < 20) {
        setTimeout(() => fetchEvidence(url, attempt + 1), 500);
        return null;
      }
      if (!res.ok) throw new Error("server answered " + res.status);
      return res.json();
    }).then(async (ev) => {
      if (!ev) return;
      const rc = await fetch(url.replace(/\/evidence$/, "/receipt"), { cache: "no-store" })
        .then((r) => (r.ok ? r.json() : null)).catch(() => null);
      $("r-id").textContent = ev.id;
      $("r-sha").textContent = ev.sha256;
      $("r-size").textContent = humanSize(ev.size) + " (" + ev.size + " bytes)";
      $("r-received").textContent = new Date(ev.received_at).toLocaleString();
      $("r-logged").textContent = rc ? "entry " + rc.index + " of the log " + rc.origin : "receipt not ready yet; the evidence page has it";
      $("r-token").textContent = ev.access_token;
      $("r-summary").textContent = "Stored: " + humanSize(ev.size) + " kept exactly as sent, and logged in the public custody log.";
      const record = { id: ev.id, sha256: ev.sha256, size: ev.size, received_at: ev.received_at, duration_s: ev.duration_s, partial: ev.partial };
      window.sightlineRecord.link($("r-save"), record, ev.access_token, rc);
      $("r-page").href = window.sightlineRecord.pageURL(ev.id, ev.access_token);
      window.sightlineRecord.remember(ev.id, ev.access_token);
      $("result").hidden = false;
      status("Stored. " + humanSize(ev.size) + " kept exactly as sent.");
      startBtn.disabled = false;
    }).catch((err) => status("Could not read the stored evidence: " + err.message, true));
  }

})();
