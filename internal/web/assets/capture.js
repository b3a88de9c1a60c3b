// The capture page: it records camera and microphone with MediaRecorder
// and sends the recording while it is being made, a chunk a second, as one
// tus upload without a length (tus's deferred-length extension).
//
// Every chunk is written to IndexedDB before it is sent and deleted only
// once the server has acknowledged it (an acknowledged offset is fsynced
// there), so a dropped network, a reload or a crash of the page loses
// nothing that reached this phone's storage: the chunks wait and go when
// the network returns, in order, from the offset the server reports.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const TIMESLICE_MS = 1000; // one chunk a second (at most 2 s)
  const UPLOADS = "/api/v1/uploads/";

  // ---- storage ----------------------------------------------------------
  // recordings: {id, created, mime, filename, uploadURL, recorded, acked,
  //              safeMs, stopped, lastSeq, declared, evidence, token, error}
  // chunks:     {rec, seq, offset, size, endMs, blob}

  let dbp = null;
  function db() {
    if (!dbp) {
      dbp = new Promise((resolve, reject) => {
        const req = indexedDB.open("sightline-capture", 1);
        req.onupgradeneeded = () => {
          req.result.createObjectStore("recordings", { keyPath: "id" });
          req.result.createObjectStore("chunks", { keyPath: ["rec", "seq"] });
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return dbp;
  }

  async function op(store, mode, fn) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const t = d.transaction(store, mode);
      const req = fn(t.objectStore(store));
      t.oncomplete = () => resolve(req && req.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error || new Error("storage transaction aborted"));
    });
  }
  const put = (store, v) => op(store, "readwrite", (s) => s.put(v));
  const get = (store, k) => op(store, "readonly", (s) => s.get(k));
  const del = (store, k) => op(store, "readwrite", (s) => s.delete(k));
  const all = (store, range) => op(store, "readonly", (s) => s.getAll(range));
  const chunksOf = (rec) => all("chunks", IDBKeyRange.bound([rec, 0], [rec, Infinity]));

  // ---- recording --------------------------------------------------------

  let recorder = null;
  let current = null; // the recording being made
  let writes = Promise.resolve(); // chunk writes, in order
  let startedAt = 0;
  let seq = 0;
  let wakeLock = null;

  function pickMime() {
    const types = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"];
    return types.find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t)) || "";
  }

  function stamp(d) {
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + p(d.getMonth() + 1) + p(d.getDate()) + "-" + p(d.getHours()) + p(d.getMinutes()) + p(d.getSeconds());
  }

  async function start() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: true,
      });
    } catch (err) {
      say("The camera or microphone is not available: " + err.message, true);
      return;
    }
    const mime = pickMime();
    const now = new Date();
    const ext = mime.startsWith("video/mp4") ? ".mp4" : ".webm";
    current = {
      id: now.getTime().toString(36) + Math.random().toString(36).slice(2, 8),
      created: now.getTime(), mime: mime, filename: "capture-" + stamp(now) + ext,
      uploadURL: null, base: 0, parts: [], recorded: 0, acked: 0, safeMs: 0, stopped: false, lastSeq: -1,
      declared: false, evidence: null, token: null, error: null,
    };
    await put("recordings", current);
    $("early").hidden = true;
    $("preview").srcObject = stream;
    recorder = new MediaRecorder(stream, mime ? { mimeType: mime, videoBitsPerSecond: 1500000 } : {});
    seq = 0;
    startedAt = performance.now();
    const rec = current;
    recorder.ondataavailable = (e) => {
      if (!e.data || e.data.size === 0) return;
      if (window.sightlineCapture.keepCopy) copy.push(e.data); // tests compare every byte
      const chunk = { rec: rec.id, seq: seq++, offset: rec.recorded, size: e.data.size,
        endMs: Math.round(performance.now() - startedAt), blob: e.data };
      rec.recorded += e.data.size;
      writes = writes.then(() => put("chunks", chunk)).then(() => put("recordings", rec)).then(pump)
        .catch((err) => say("Could not keep the recording on this phone: " + err.message, true));
    };
    recorder.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      writes = writes.then(() => {
        rec.stopped = true;
        rec.lastSeq = seq - 1;
        return put("recordings", rec);
      }).then(pump);
      if (wakeLock) wakeLock.release().catch(() => {});
      wakeLock = null;
    };
    recorder.start(TIMESLICE_MS);
    rec.started = Date.now();
    if (navigator.wakeLock) navigator.wakeLock.request("screen").then((l) => { wakeLock = l; }, () => {});
    $("record").textContent = "Stop";
    $("record").setAttribute("aria-pressed", "true");
    $("record").classList.add("on");
    $("receipt").hidden = true;
    pump();
  }

  function stop() {
    if (recorder && recorder.state !== "inactive") recorder.stop();
    recorder = null;
    $("record").textContent = "Record";
    $("record").setAttribute("aria-pressed", "false");
    $("record").classList.remove("on");
  }

  $("record").addEventListener("click", () => (recorder ? stop() : start()));

  // ---- sending ----------------------------------------------------------

  let pumping = false;
  let again = false;
  let offline = false;
  let retryTimer = null;
  let backoff = 500;
  const synced = new Set(); // recordings whose server offset this page knows

  function b64(s) {
    return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
  }

  async function tus(method, url, headers, body) {
    const h = Object.assign({ "Tus-Resumable": "1.0.0" }, headers || {});
    return fetch(url, { method: method, headers: h, body: body, cache: "no-store" });
  }

  // pump sends what waits, recording by recording, until all is sent or
  // the network fails; then it tries again later. Only one runs at once.
  async function pump() {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        const recs = (await all("recordings")).filter((r) => !r.evidence && !r.error);
        for (const r of recs) {
          await send(r.id === (current && current.id) ? current : r);
        }
      } while (again);
      offline = false;
      backoff = 500;
    } catch (err) {
      offline = true;
      if (!retryTimer) {
        retryTimer = setTimeout(() => { retryTimer = null; pump(); }, backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    } finally {
      pumping = false;
      show();
    }
  }

  window.addEventListener("online", () => {
    backoff = 500;
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    pump();
  });

  // send brings one recording's upload up to date. A failed request throws
  // (the pump retries); a refusal by the server is kept in r.error.
  //
  // r.acked and chunk offsets count bytes of the whole recording; the
  // upload holds those from r.base on. A recording that fell silent for
  // long (the phone was offline) is kept by the server as partial
  // evidence; the rest then goes as a new upload that continues it, and
  // r.parts keeps the earlier parts' evidence and tokens.
  async function send(r) {
    const base = r.base || 0;
    if (!r.uploadURL) {
      const h = {
        "Upload-Defer-Length": "1",
        "Upload-Metadata": "filename " + b64(r.filename) + ",source " + b64("phone"),
      };
      if (r.continues) h["Upload-Continues"] = r.continues;
      const res = await tus("POST", UPLOADS, h);
      if (res.status !== 201) return refused(r, res);
      r.uploadURL = new URL(res.headers.get("Location"), location.href).href;
      await put("recordings", r);
      synced.add(r.id);
    }
    if (!synced.has(r.id)) { // after a failure or a reload: ask where it stands
      await head(r);
      synced.add(r.id);
      if (r.error) return;
    }
    for (const c of await chunksOf(r.id)) {
      if (c.offset + c.size <= r.acked) {
        await del("chunks", [c.rec, c.seq]);
        continue;
      }
      const last = r.stopped && c.seq === r.lastSeq;
      const headers = { "Upload-Offset": String(r.acked - base), "Content-Type": "application/offset+octet-stream" };
      if (last) headers["Upload-Length"] = String(r.recorded - base);
      let res;
      try {
        res = await tus("PATCH", r.uploadURL, headers, c.blob.slice(r.acked - c.offset));
      } catch (err) {
        synced.delete(r.id); // the bytes may have arrived without the answer
        throw err;
      }
      if (res.status === 409) { // our offset was wrong: ask the server
        await head(r);
        again = true;
        return;
      }
      if (await keptAsPartial(res)) return continueAfter(r);
      if (res.status !== 204) return refused(r, res);
      r.acked = base + Number(res.headers.get("Upload-Offset"));
      if (!r.page || r.page.upload !== r.uploadURL) earlyLink(r);
      if (r.acked >= c.offset + c.size) {
        r.safeMs = c.endMs;
        await put("recordings", r);
        await del("chunks", [c.rec, c.seq]);
      } else {
        await put("recordings", r);
      }
      if (last) r.declared = true;
      show();
    }
    if (r.stopped && !r.declared && r.acked === r.recorded) {
      // The last chunk went before the recording stopped: say the length.
      const res = await tus("PATCH", r.uploadURL, { "Upload-Offset": String(r.acked - base), "Upload-Length": String(r.recorded - base),
        "Content-Type": "application/offset+octet-stream" }, new Blob([]));
      if (await keptAsPartial(res)) return continueAfter(r);
      if (res.status !== 204) return refused(r, res);
      r.declared = true;
      await put("recordings", r);
    }
    if (r.declared && r.acked === r.recorded) await finish(r);
  }

  // head asks the server how much of r it holds.
  async function head(r) {
    const base = r.base || 0;
    const res = await tus("HEAD", r.uploadURL);
    if (res.status !== 200) return refused(r, res);
    r.acked = base + Number(res.headers.get("Upload-Offset"));
    if (res.headers.get("Upload-Length") === String(r.recorded - base) && r.stopped) r.declared = true;
    await put("recordings", r);
  }

  // keptAsPartial reports whether the server kept the upload as partial
  // evidence while this phone was away (410 ERR_KEPT_AS_PARTIAL).
  async function keptAsPartial(res) {
    return res.status === 410 && (await res.clone().text()).includes("ERR_KEPT_AS_PARTIAL");
  }

  // continueAfter keeps the partial evidence the upload became as a part
  // of r, and sends the rest of the recording as a new upload that
  // continues it. Nothing recorded is lost.
  async function continueAfter(r) {
    const part = await evidenceOf(r.uploadURL);
    r.parts = (r.parts || []).concat([part]);
    window.sightlineRecord.remember(part.evidence.id, part.token);
    const id = r.uploadURL.slice(r.uploadURL.lastIndexOf("/") + 1);
    r.base = (r.base || 0) + part.evidence.size;
    r.acked = r.base;
    if (r.stopped && r.acked === r.recorded) { // it was all there: the part is the recording
      Object.assign(r, part);
      r.parts.pop();
      await put("recordings", r);
      showReceipt(r);
      return;
    }
    r.continues = id;
    r.uploadURL = null;
    r.declared = false;
    await put("recordings", r);
    again = true;
  }

  async function refused(r, res) {
    const body = await res.text().catch(() => "");
    r.error = "The server refused the recording (" + res.status + "): " + body.trim();
    await put("recordings", r);
    say(r.error, true);
  }

  // evidenceOf fetches the evidence an upload became, with its access
  // token and receipt.
  async function evidenceOf(uploadURL) {
    let ev = null;
    for (let i = 0; i < 20 && !ev; i++) {
      const res = await fetch(uploadURL + "/evidence", { cache: "no-store" });
      if (res.ok) ev = await res.json();
      else await new Promise((ok) => setTimeout(ok, 250));
    }
    if (!ev) throw new Error("the evidence is not ready yet");
    const part = {
      evidence: { id: ev.id, sha256: ev.sha256, size: ev.size, received_at: ev.received_at, duration_s: ev.duration_s, partial: ev.partial,
        continues: ev.continues || "" },
      token: ev.access_token, receipt: null,
    };
    const res = await fetch("/api/v1/evidence/" + encodeURIComponent(ev.id) + "/receipt",
      { headers: { Authorization: "Bearer " + part.token }, cache: "no-store" });
    if (res.ok) part.receipt = await res.json();
    return part;
  }

  // finish records the evidence the upload became, with its access token,
  // and its receipt.
  async function finish(r) {
    Object.assign(r, await evidenceOf(r.uploadURL));
    await put("recordings", r);
    window.sightlineRecord.remember(r.evidence.id, r.token);
    showReceipt(r);
  }


  // earlyLink asks, once the first bytes are safe, where the evidence will
  // be, and shows the link while recording: whoever it is sent to can
  // open what reached the server even if this phone is taken.
  async function earlyLink(r) {
    const url = r.uploadURL;
    try {
      const res = await fetch(url + "/page", { cache: "no-store" });
      if (!res.ok || r.uploadURL !== url) return;
      const p = await res.json();
      r.page = { upload: url, link: p.evidence_page, id: p.evidence_id, token: p.access_token };
      window.sightlineRecord.remember(p.evidence_id, p.access_token);
      await put("recordings", r);
      showEarly(r);
    } catch (e) { /* offline: asked again with the next piece */ }
  }

  function showEarly(r) {
    if (!r.page) return;
    const a = $("early-link");
    a.href = a.textContent = r.page.link;
    $("early").hidden = false;
  }

  $("early-share").addEventListener("click", async () => {
    const link = $("early-link").href;
    try {
      if (navigator.share) {
        await navigator.share({ title: "My recording (Sightline)", text: "The footage I am recording, kept on the server:", url: link });
        return;
      }
      await navigator.clipboard.writeText(link);
      $("early-status").textContent = "Copied: paste it into a message to someone you trust.";
    } catch (e) {
      $("early-status").textContent = "Copy the link above and send it to someone you trust.";
    }
  });

  // ---- showing ----------------------------------------------------------

  function size(n) {
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function clock(ms) {
    const s = Math.floor(ms / 1000);
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function say(text, isError) {
    $("rec-state").textContent = text;
    $("rec-state").className = "rec-state" + (isError ? " error" : "");
  }

  let pending = { chunks: 0, bytes: 0 };

  async function show() {
    const r = current;
    if (!r) return;
    const waiting = await chunksOf(r.id).catch(() => []);
    pending = { chunks: waiting.length, bytes: waiting.reduce((n, c) => n + c.size - Math.max(0, r.acked - c.offset), 0) };
    $("safe").textContent = r.acked ? size(r.acked) + ", the first " + clock(r.safeMs) + " of the recording" : "nothing yet";
    $("waiting").textContent = pending.chunks
      ? pending.chunks + (pending.chunks === 1 ? " piece, " : " pieces, ") + size(pending.bytes) +
        (offline ? " (no connection: kept here, sent when it returns)" : "")
      : "nothing";
    if (recorder) say("Recording " + clock(performance.now() - startedAt) + (offline ? ". No connection: saving on this phone." : "."), false);
    else if (r.error) say(r.error, true);
    else if (r.evidence) say("Stored. " + size(r.evidence.size) + " kept exactly as recorded.", false);
    else if (r.stopped) say(offline ? "Stopped. Waiting for a connection to send the rest." : "Stopped. Sending the rest…", false);
  }
  setInterval(() => { if (recorder) show(); }, 500);

  function showReceipt(r) {
    const ev = r.evidence;
    const parts = r.parts || [];
    $("receipt-summary").textContent = (ev.partial ? "Kept as partial evidence: " : "Stored: ") + size(ev.size) +
      (ev.duration_s ? ", " + ev.duration_s.toFixed(1) + " s" : "") + ", logged in the public custody log." +
      (parts.length ? " The connection was lost for long, so the recording is in " + (parts.length + 1) +
        " linked parts; this is the last, and the earlier ones are listed below." : "");
    $("r-id").textContent = ev.id;
    $("r-sha").textContent = ev.sha256;
    $("r-logged").textContent = r.receipt ? "entry " + r.receipt.index + " of the log " + r.receipt.origin : "receipt not ready yet";
    $("r-token").textContent = r.token;
    window.sightlineRecord.link($("r-save"), ev, r.token, r.receipt, parts);
    $("r-page").href = pageURL(r);
    $("receipt").hidden = false;
    window.sightlineShare($("share"), ev.id, r.token);
    listEarlier();
  }

  function pageURL(r) {
    return window.sightlineRecord.pageURL(r.evidence.id, r.token);
  }

  // items lists what a recording became: its earlier parts, then itself.
  function items(r) {
    return (r.parts || []).concat(r.evidence ? [{ evidence: r.evidence, token: r.token }] : []);
  }

  async function listEarlier() {
    const recs = (await all("recordings")).filter((r) => r.evidence).sort((a, b) => b.created - a.created);
    const ul = $("earlier-list");
    ul.textContent = "";
    for (const r of recs) {
      const parts = items(r);
      parts.forEach((p, i) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = pageURL(p);
        a.textContent = new Date(r.created).toLocaleString() + " · " + size(p.evidence.size) + (p.evidence.partial ? " (partial)" : "") +
          (parts.length > 1 ? " · part " + (i + 1) + " of " + parts.length : "");
        li.appendChild(a);
        ul.appendChild(li);
      });
    }
    $("earlier").hidden = recs.length === 0;
  }

  // For tests and for anyone curious: where the current recording stands.
  // With keepCopy set before recording, the page also keeps every byte it
  // recorded in memory, and copyDigest(n) gives the SHA-256 of the first n
  // (default all), so a test can check what the server holds byte for byte.
  const copy = [];
  window.sightlineCapture = {
    keepCopy: false,
    copyDigest: async (n) => {
      const all = new Blob(copy);
      const sum = await crypto.subtle.digest("SHA-256", await all.slice(0, n === undefined ? all.size : n).arrayBuffer());
      return Array.from(new Uint8Array(sum), (b) => b.toString(16).padStart(2, "0")).join("");
    },
    state: () => Object.assign({ pending: pending, offline: offline, recording: !!recorder },
      current ? { started: current.started || 0, uploadURL: current.uploadURL, recorded: current.recorded, acked: current.acked, stopped: current.stopped,
        evidence: current.evidence, token: current.token, receipt: current.receipt || null, error: current.error,
        parts: current.parts || [], page: current.page || null } : {}),
    stop: stop,
  };

  // A recording left unsent by a closed page or a lost connection goes on
  // being sent when the page opens again.
  // Its recorder is gone with the old page, so the recording ends with
  // what this phone kept.
  all("recordings").then(async (recs) => {
    const open = recs.filter((r) => !r.evidence && !r.error).sort((a, b) => b.created - a.created);
    for (const r of open) {
      if (r.stopped) continue;
      const left = await chunksOf(r.id);
      r.stopped = true;
      r.lastSeq = left.length ? left[left.length - 1].seq : -1;
      await put("recordings", r);
    }
    if (open.length) {
      current = open[0];
      showEarly(current);
      say("Sending a recording this phone kept…", false);
      pump();
    }
    listEarlier();
  });

  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
})();
