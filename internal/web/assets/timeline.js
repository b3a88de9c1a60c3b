// The incident timeline: every clip on one clock, one lane per camera,
// up to four angles playing in step under one scrubber.
//
// The incident clock T is kept here (a wall clock while playing). A
// clip's own time for T is (T - offset) / (1 + drift), and every frame
// each video is steered to it: a small error is taken up by playing a
// little faster or slower, a large one (over 0.25 s) by seeking.
"use strict";
(() => {
  const root = document.getElementById("timeline");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const incident = root.dataset.incident, reason = root.dataset.reason, csrf = root.dataset.csrf;
  const maxAngles = 4;
  const frame = 1 / 30;
  const startLead = 0.1; // seconds a video takes from play() to moving
  const count = (n, one) => n + " " + one + (n === 1 ? "" : "s");

  let clips = [];     // from the API, with .video for the angles shown
  let total = 1;      // incident length, seconds
  let T = 0;          // incident time while paused; at wallStart while playing
  let playing = false, wallStart = 0;

  const q = (path) => path + "?reason=" + encodeURIComponent(reason);
  const now = () => (playing ? T + (performance.now() - wallStart) / 1000 : T);
  const local = (c, t) => (t - c.offset_s) / (1 + c.drift_ppm * 1e-6);
  const fmt = (t) => {
    const m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(3);
  };

  async function load() {
    const res = await fetch("/api/v1/incidents/" + encodeURIComponent(incident) + "/timeline", { credentials: "same-origin" });
    if (!res.ok) throw new Error("timeline: " + res.status);
    const body = await res.json();
    const prev = new Map(clips.map((c) => [c.evidence_id, c]));
    clips = body.clips;
    for (const c of clips) {
      const p = prev.get(c.evidence_id);
      if (p && p.video) c.video = p.video;
    }
    total = Math.max(1, ...clips.map((c) => c.offset_s + c.duration_s));
    $("scrubber").max = total.toFixed(3);
    build();
    const pending = clips.filter((c) => c.status === "pending").length;
    $("status").textContent = pending ? count(pending, "clip") + " still being aligned…" : count(clips.length, "clip") + " on one clock.";
    if (pending) setTimeout(load, 2000);
    seek(now());
  }

  function build() {
    const angles = $("angles"), lanes = $("lanes");
    let shown = 0;
    for (const c of clips) {
      if (!c.has_video || c.status === "pending" || shown >= maxAngles) continue;
      shown++;
      if (c.video) continue;
      const box = document.createElement("div");
      box.className = "angle";
      const v = document.createElement("video");
      v.muted = shown > 1; // one sound at a time
      v.preload = "auto";
      v.playsInline = true;
      v.src = q("/api/v1/evidence/" + encodeURIComponent(c.evidence_id) + "/review");
      v.dataset.evidence = c.evidence_id;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = c.label;
      box.append(v, name);
      angles.append(box);
      c.video = v;
    }
    lanes.replaceChildren();
    const head = document.createElement("div");
    head.className = "playhead";
    head.id = "playhead";
    lanes.append(head);
    for (const c of clips) {
      const lane = document.createElement("div");
      lane.className = "lane";
      lane.dataset.evidence = c.evidence_id;
      const label = document.createElement("span");
      label.className = "label";
      const how = c.status === "pending" ? "aligning…" : c.method + (c.method === "audio" ? " " + Math.round(c.confidence * 100) + "%" : "") +
        (c.status !== "aligned" && c.status !== "confirmed" ? " (" + c.status + ")" : "");
      label.textContent = c.label + " · " + how;
      label.title = c.detail || "";
      const bar = document.createElement("div");
      bar.className = "clip " + (c.status === "pending" ? "pending" : c.method);
      bar.style.left = (100 * c.offset_s / total) + "%";
      bar.style.width = Math.max(0.5, 100 * c.duration_s / total) + "%";
      if (c.has_video) bar.style.backgroundImage = "url(\"" + q("/api/v1/evidence/" + encodeURIComponent(c.evidence_id) + "/thumbnails") + "\")";
      lane.append(label, bar);
      if (c.status !== "pending") {
        const nudge = document.createElement("span");
        nudge.className = "nudge";
        for (const [text, d] of [["−0.1 s", -0.1], ["−1 frame", -frame], ["+1 frame", frame], ["+0.1 s", 0.1], ["✓", 0]]) {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = text;
          b.className = "nudge-btn";
          b.dataset.nudge = String(d);
          b.addEventListener("click", (ev) => { ev.stopPropagation(); nudgeClip(c, d); });
          nudge.append(b);
        }
        lane.append(nudge);
      }
      lanes.append(lane);
    }
  }

  async function nudgeClip(c, d) {
    const res = await fetch("/api/v1/incidents/" + encodeURIComponent(incident) + "/evidence/" + encodeURIComponent(c.evidence_id) + "/offset", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ nudge_s: d }),
    });
    if (!res.ok) { $("status").textContent = "nudge refused: " + res.status; return; }
    await load();
  }

  // seek puts the incident clock at t and every angle at its moment.
  function seek(t) {
    t = Math.min(Math.max(0, t), total);
    T = t;
    wallStart = performance.now();
    for (const c of clips) {
      if (!c.video) continue;
      const lt = local(c, t), v = c.video;
      const inside = lt >= 0 && lt <= c.duration_s;
      v.parentElement.classList.toggle("out", !inside);
      const target = Math.min(Math.max(0, lt), c.duration_s);
      if (Math.abs(v.currentTime - target) > 0.001) v.currentTime = target;
      v.playbackRate = 1;
      if (playing && inside) v.play().catch(() => {});
      else v.pause();
    }
    draw(t);
  }

  function draw(t) {
    $("scrubber").value = t.toFixed(3);
    $("clock").textContent = fmt(t);
    const head = $("playhead");
    if (head) head.style.left = (100 * t / total) + "%";
  }

  // steer keeps each playing angle at its moment of the incident clock.
  function steer() {
    if (!playing) return;
    const t = now();
    if (t >= total) { pause(); seek(total); return; }
    for (const c of clips) {
      const v = c.video;
      if (!v) continue;
      const lt = local(c, t);
      const inside = lt >= 0 && lt < c.duration_s;
      v.parentElement.classList.toggle("out", !inside);
      if (lt < 0 && lt > -startLead) {
        // About to start: a video takes a few frames to get going, so
        // it is started that much early, from its first frame.
        if (v.paused) { v.currentTime = 0; v.playbackRate = 1; v.play().catch(() => {}); }
        continue;
      }
      if (!inside) {
        if (!v.paused) v.pause();
        const at = Math.min(Math.max(0, lt), c.duration_s);
        if (Math.abs(v.currentTime - at) > 0.001) v.currentTime = at;
        continue;
      }
      const err = v.currentTime - lt;
      if (Math.abs(err) > 0.25 || v.paused) {
        v.currentTime = lt;
        v.playbackRate = 1;
        if (v.paused) v.play().catch(() => {});
      } else {
        // A few steps of rate, changed only when needed: every change of
        // rate costs the media pipeline a little.
        let want = 1;
        if (Math.abs(err) > 0.03) want = err > 0 ? 0.75 : 1.25;
        else if (Math.abs(err) > 0.008) want = err > 0 ? 0.9 : 1.1;
        if (v.playbackRate !== want) v.playbackRate = want;
      }
    }
    draw(t);
    requestAnimationFrame(steer);
  }

  function play() {
    if (T >= total) T = 0;
    playing = true;
    seek(T);
    $("play").textContent = "Pause";
    requestAnimationFrame(steer);
  }

  function pause() {
    T = now();
    playing = false;
    seek(T);
    $("play").textContent = "Play";
  }

  $("play").addEventListener("click", () => (playing ? pause() : play()));
  $("scrubber").addEventListener("input", () => seek(parseFloat($("scrubber").value)));
  $("lanes").addEventListener("click", (ev) => {
    const box = $("lanes").getBoundingClientRect();
    seek(total * (ev.clientX - box.left) / box.width);
  });

  // For tests and for a reviewer's console: where each angle should be.
  window.sightlineTimeline = {
    time: now,
    expected: () => clips.filter((c) => c.video).map((c) => ({ evidence: c.evidence_id, expected: local(c, now()), actual: c.video.currentTime,
      inside: local(c, now()) >= 0 && local(c, now()) <= c.duration_s })),
    seek, play, pause, reload: load,
  };
  load().catch((e) => { $("status").textContent = String(e); });
})();
