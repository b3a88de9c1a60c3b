// The redaction editor. Without a redaction: the item's redactions, and a
// form to start one. With one: the video with every box drawn over it
// (faces found, red; boxes drawn by hand, yellow; a dropped face, dashed),
// the faces as pictures to keep or drop, boxes drawn by hand with
// keyframes, spans of sound to mute or bleep, and the steps the redaction
// can take next. Frame n is shown from n/fps seconds; the editor seeks to
// the middle of a frame.
"use strict";
(() => {
  const root = document.getElementById("redact");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const { el, count } = window.say;
  const evidence = root.dataset.evidence, reason = root.dataset.reason, csrf = root.dataset.csrf;
  const mayRelease = root.dataset.mayRelease === "true";
  let rid = root.dataset.redaction;
  const q = (path) => path + "?reason=" + encodeURIComponent(reason);
  const api = async (method, path, body) => {
    const res = await fetch(q(path), {
      method, credentials: "same-origin",
      headers: body === undefined ? { "X-CSRF-Token": csrf } : { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data = null;
    try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
    if (!res.ok) throw new Error(data.error || res.status);
    return data;
  };
  const say = (msg) => { $("status").textContent = msg; };

  if (!rid) { start(); return; }

  // --- starting one -------------------------------------------------
  async function start() {
    $("start").hidden = false;
    const list = await api("GET", "/api/v1/evidence/" + encodeURIComponent(evidence) + "/redactions");
    for (const r of list) {
      const li = el("li");
      const a = el("a", r.id + ": " + r.status + (r.mine ? " (yours)" : ""));
      a.href = "/staff/redact/" + encodeURIComponent(evidence) + "?reason=" + encodeURIComponent(reason) + "&redaction=" + encodeURIComponent(r.id);
      li.append(a);
      $("redactions").append(li);
    }
    if (!list.length) $("redactions").append(el("li", "None yet."));
    $("start-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const r = await api("POST", "/api/v1/evidence/" + encodeURIComponent(evidence) + "/redactions",
          { auto: ["faces", "text"].filter((k) => $("auto-" + k).checked), effect: $("start-effect").value, basis: $("start-basis").value });
        location.href = "/staff/redact/" + encodeURIComponent(evidence) + "?reason=" + encodeURIComponent(reason) + "&redaction=" + encodeURIComponent(r.id);
      } catch (e) { say("Could not start: " + e.message); }
    });
  }

  // --- the editor ---------------------------------------------------
  const video = $("video"), canvas = $("overlay"), ctx = canvas.getContext("2d");
  let rd = null;          // the redaction, from the API
  let boxes = [];         // hand-drawn box changes
  let mutes = [];         // mute and bleep changes
  let choices = new Map(); // track id -> {keep, reason}
  let selected = -1;      // index in boxes of the box being keyframed
  let dirty = false;
  let drag = null;

  const fps = () => (rd ? rd.original.fps : 30);
  const frameNow = () => Math.floor(video.currentTime * fps() + 1e-6);
  const seekFrame = (n) => { video.currentTime = (Math.max(0, n) + 0.5) / fps(); };

  // at is where a box change (keyframes sorted by frame) is at frame n.
  function at(kfs, from, to, n) {
    if (!kfs.length || n < from || n > to) return null;
    if (n <= kfs[0].frame) return kfs[0];
    const last = kfs[kfs.length - 1];
    if (n >= last.frame) return last;
    let i = 1;
    while (kfs[i].frame < n) i++;
    const a = kfs[i - 1], b = kfs[i], t = (n - a.frame) / (b.frame - a.frame);
    // Go's math.Round: halves away from zero (the corners are never negative).
    const l = (p, r) => Math.round(p + t * (r - p));
    const x = l(a.x, b.x), y = l(a.y, b.y);
    return { x, y, w: l(a.x + a.w, b.x + b.w) - x, h: l(a.y + a.h, b.y + b.h) - y };
  }

  function draw() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    ctx.clearRect(0, 0, w, h);
    if (!rd) return;
    const sx = w / rd.original.width, sy = h / rd.original.height, n = frameNow();
    const box = (b, color, dashed) => {
      ctx.setLineDash(dashed ? [6, 4] : []);
      ctx.strokeStyle = color; ctx.lineWidth = 2;
      ctx.strokeRect(b.x * sx, b.y * sy, b.w * sx, b.h * sy);
    };
    for (const t of rd.tracks) {
      const b = at(t.boxes, t.from_frame, t.to_frame, n);
      if (b) box(b, "#e33", !choices.get(t.id).keep);
    }
    boxes.forEach((c, i) => {
      const b = at(c.keyframes, c.keyframes[0].frame, c.keyframes[c.keyframes.length - 1].frame, n);
      if (b) box(b, i === selected ? "#ff0" : "#cc0", false);
    });
    if (drag && drag.now) {
      ctx.setLineDash([]); ctx.strokeStyle = "#0ff";
      ctx.strokeRect(Math.min(drag.x, drag.now.x), Math.min(drag.y, drag.now.y), Math.abs(drag.now.x - drag.x), Math.abs(drag.now.y - drag.y));
    }
    $("at").textContent = "frame " + n + " · " + video.currentTime.toFixed(3) + " s";
  }
  video.addEventListener("seeked", draw);
  video.addEventListener("timeupdate", draw);
  video.addEventListener("loadeddata", draw);
  const tick = () => { if (!video.paused) { draw(); requestAnimationFrame(tick); } };
  video.addEventListener("play", tick);
  window.addEventListener("resize", draw);

  const point = (ev) => {
    const r = canvas.getBoundingClientRect();
    return { x: ev.clientX - r.left, y: ev.clientY - r.top };
  };
  canvas.addEventListener("mousedown", (ev) => {
    if (!editable()) return;
    video.pause();
    drag = point(ev);
  });
  canvas.addEventListener("mousemove", (ev) => { if (drag) { drag.now = point(ev); draw(); } });
  window.addEventListener("mouseup", (ev) => {
    if (!drag) return;
    const end = point(ev), d = drag;
    drag = null;
    const sx = rd.original.width / canvas.clientWidth, sy = rd.original.height / canvas.clientHeight;
    let x0 = Math.round(Math.min(d.x, end.x) * sx), y0 = Math.round(Math.min(d.y, end.y) * sy);
    let x1 = Math.round(Math.max(d.x, end.x) * sx), y1 = Math.round(Math.max(d.y, end.y) * sy);
    x0 = Math.max(0, x0); y0 = Math.max(0, y0);
    x1 = Math.min(rd.original.width, x1); y1 = Math.min(rd.original.height, y1);
    if (x1 - x0 < 4 || y1 - y0 < 4) { draw(); return; }
    const kf = { frame: frameNow(), x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
    if (selected < 0) {
      boxes.push({ kind: "box", effect: $("box-effect").value, keyframes: [], reason: $("box-basis").value });
      selected = boxes.length - 1;
    }
    const kfs = boxes[selected].keyframes.filter((k) => k.frame !== kf.frame);
    kfs.push(kf);
    kfs.sort((a, b) => a.frame - b.frame);
    boxes[selected].keyframes = kfs;
    changed();
  });
  $("new-box").addEventListener("click", () => { selected = -1; list(); draw(); });
  $("play").addEventListener("click", () => { if (video.paused) video.play(); else video.pause(); });
  $("back").addEventListener("click", () => { video.pause(); seekFrame(frameNow() - 1); });
  $("forward").addEventListener("click", () => { video.pause(); seekFrame(frameNow() + 1); });
  $("add-mute").addEventListener("click", () => {
    const from = parseFloat($("mute-from").value), to = parseFloat($("mute-to").value);
    if (!(to > from && from >= 0)) { say("A span of sound needs a start before its end."); return; }
    mutes.push({ kind: $("mute-kind").value, from_s: from, to_s: to, reason: $("mute-basis").value });
    changed();
  });

  const editable = () => rd && rd.status === "draft";
  function changed() { dirty = true; list(); draw(); buttons(); }

  function list() {
    $("tracks").replaceChildren();
    for (const t of rd.tracks) {
      const c = choices.get(t.id);
      const li = el("li");
      li.dataset.track = t.id;
      const img = el("img");
      img.src = q("/api/v1/redactions/" + encodeURIComponent(rid) + "/tracks/" + t.id);
      img.alt = t.kind + " " + t.id;
      img.addEventListener("click", () => { video.pause(); seekFrame(t.boxes[0].frame); });
      const keep = el("input"); keep.type = "checkbox"; keep.checked = c.keep; keep.disabled = !editable();
      keep.className = "keep";
      keep.addEventListener("change", () => { c.keep = keep.checked; changed(); });
      const label = el("label"); label.append(keep, " hide");
      li.append(img, el("span", t.kind + ", frames " + t.from_frame + "–" + t.to_frame + ", score " + t.score.toFixed(2)), label);
      $("tracks").append(li);
    }
    if (!rd.tracks.length) $("tracks").append(el("li", rd.detection === "running" ? "Looking…" :
      rd.detection === "failed" ? "Nothing was searched: " + rd.detect_error : "Nothing found."));
    $("boxes").replaceChildren();
    boxes.forEach((b, i) => {
      const li = el("li", "Box " + (i + 1) + ": " + b.effect + ", " + b.reason + ", " + count(b.keyframes.length, "keyframe") +
        " (frames " + b.keyframes[0].frame + "–" + b.keyframes[b.keyframes.length - 1].frame + ") ");
      if (i === selected) li.className = "selected";
      li.addEventListener("click", () => { selected = i; list(); draw(); });
      if (editable()) {
        const del = el("button", "Remove"); del.type = "button";
        del.addEventListener("click", (ev) => { ev.stopPropagation(); boxes.splice(i, 1); selected = -1; changed(); });
        li.append(del);
      }
      $("boxes").append(li);
    });
    $("mutes").replaceChildren();
    mutes.forEach((m, i) => {
      const li = el("li", m.kind + " " + m.from_s + "–" + m.to_s + " s, " + m.reason + " ");
      if (editable()) {
        const del = el("button", "Remove"); del.type = "button";
        del.addEventListener("click", () => { mutes.splice(i, 1); changed(); });
        li.append(del);
      }
      $("mutes").append(li);
    });
  }

  function buttons() {
    const st = rd.status;
    $("save").hidden = !editable();
    $("save").disabled = !dirty;
    $("submit").hidden = !editable() || !rd.mine;
    $("approve").hidden = st !== "submitted" || rd.mine;
    $("return-form").hidden = st !== "submitted";
    $("render").hidden = st !== "approved" || rd.rendering;
    $("release").hidden = st !== "rendered" || !mayRelease;
    $("result").hidden = !(st === "rendered" || st === "released");
    if (!$("result").hidden) {
      $("output").href = q("/api/v1/redactions/" + encodeURIComponent(rid) + "/video");
      $("manifest").href = q("/api/v1/redactions/" + encodeURIComponent(rid) + "/manifest");
      $("manifest-sha").textContent = "SHA-256 " + rd.manifest_sha256;
    }
  }

  function describe() {
    const parts = ["Status: " + rd.status + (rd.mine ? " (yours)" : "") + "."];
    if (rd.detection === "running") parts.push("Looking for " + rd.auto.join(" and ") + "…");
    if (rd.rendering) parts.push("Rendering…");
    if (rd.render_error) parts.push("The render failed: " + rd.render_error);
    if (rd.status === "submitted" && rd.mine) parts.push("Someone else must approve it.");
    if (rd.status === "rendered") parts.push("Rendered and logged at index " + rd.log_index + ".");
    say(parts.join(" "));
    $("comment").hidden = !rd.comment;
    $("comment").textContent = rd.comment ? "Sent back: " + rd.comment : "";
  }

  async function load(keepEdits) {
    rd = await api("GET", "/api/v1/redactions/" + encodeURIComponent(rid));
    rd.tracks = rd.tracks || [];
    if (!keepEdits) {
      boxes = (rd.changes || []).filter((c) => c.kind === "box");
      mutes = (rd.changes || []).filter((c) => c.kind !== "box");
      dirty = false;
    }
    const prev = choices;
    choices = new Map();
    for (const t of rd.tracks) choices.set(t.id, keepEdits && prev.has(t.id) ? prev.get(t.id) : { keep: t.keep, reason: t.reason });
    $("editor").hidden = false;
    describe(); list(); buttons(); draw();
    if (rd.detection === "running" || rd.rendering) setTimeout(() => load(true).catch((e) => say(e.message)), 1000);
  }

  async function save() {
    const changes = boxes.map((b) => ({ kind: "box", effect: b.effect, keyframes: b.keyframes, reason: b.reason }))
      .concat(mutes.map((m) => ({ kind: m.kind, from_s: m.from_s, to_s: m.to_s, reason: m.reason })));
    const tracks = rd.tracks.map((t) => ({ id: t.id, keep: choices.get(t.id).keep, reason: choices.get(t.id).reason }));
    await api("PATCH", "/api/v1/redactions/" + encodeURIComponent(rid), { changes, tracks });
    dirty = false;
  }
  const step = (name, body) => async () => {
    try {
      if (name === "submit" && dirty) await save();
      await api("POST", "/api/v1/redactions/" + encodeURIComponent(rid) + "/" + name, body ? body() : undefined);
      await load(false);
    } catch (e) { say("Could not " + name + ": " + e.message); }
  };
  $("save").addEventListener("click", async () => {
    try { await save(); await load(false); say("Saved."); } catch (e) { say("Could not save: " + e.message); }
  });
  $("submit").addEventListener("click", step("submit"));
  $("approve").addEventListener("click", step("approve"));
  $("render").addEventListener("click", step("render"));
  $("release").addEventListener("click", step("release"));
  $("return-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    step("return", () => ({ comment: $("return-comment").value }))();
  });
  load(false).catch((e) => say("Could not load the redaction: " + e.message));
})();
