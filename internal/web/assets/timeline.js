// The incident timeline: every clip listed with who filmed it and when,
// and, once the reviewer has said why, the angles they choose (up to four)
// playing in step under one scrubber (angles.js keeps them in step), with
// the wall-clock time at the playhead.
"use strict";
(() => {
  const root = document.getElementById("incident");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const { el, time, clock, count } = window.say;
  const incident = root.dataset.incident, reason = root.dataset.reason, csrf = root.dataset.csrf;
  const watching = !!$("timeline");
  const maxAngles = 4;
  const frame = 1 / 30;

  let clips = [];      // from the API, with .video for the angles shown
  let chosen = null;   // evidence ids of the angles to play (null: the first four)
  let start = null;    // wall-clock Date of the incident clock's 0, if known
  const player = window.sightlineAngles(() => clips, draw, () => { $("play").textContent = "Play"; });
  const { now, seek } = player;

  const q = (path) => path + "?reason=" + encodeURIComponent(reason);
  const fmt = (t) => {
    const m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(3);
  };
  const playable = (c) => c.has_video && c.status !== "pending";

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
    start = body.start ? new Date(body.start) : null;
    player.setTotal(Math.max(1, ...clips.map((c) => c.offset_s + c.duration_s)));
    if (!chosen) chosen = new Set(clips.filter(playable).slice(0, maxAngles).map((c) => c.evidence_id));
    list();
    const pending = clips.filter((c) => c.status === "pending").length;
    $("status").textContent = !clips.length ? "No clips yet: add footage below." :
      pending ? count(pending, "clip") + " still being aligned…" : count(clips.length, "clip") + " on one clock.";
    if (pending) setTimeout(load, 2000);
    if (watching) {
      $("scrubber").max = player.total().toFixed(3);
      build();
      seek(now());
    }
  }

  // how says how a clip was placed on the incident clock.
  function how(c) {
    if (c.status === "pending") return "aligning…";
    const by = { audio: "sound, " + Math.round(c.confidence * 100) + "% sure", metadata: "the file's clock (check it)", manual: "a reviewer" }[c.method] || c.method;
    return by + (c.status === "confirmed" ? ", confirmed" : c.status !== "aligned" ? " (" + c.status + ")" : "");
  }

  // list fills the table of clips.
  function list() {
    const tbody = $("clips").querySelector("tbody");
    tbody.textContent = "";
    for (const c of clips) {
      const tr = el("tr");
      tr.className = "clip-row";
      tr.dataset.evidence = c.evidence_id;
      const from = new Date(c.start), to = new Date(from.getTime() + c.duration_s * 1000);
      tr.append(el("td", c.label, "label"), el("td", c.by), el("td", time(c.start) + " – " + clock(to).slice(0, 8), "when"));
      const placed = el("td", how(c));
      placed.title = c.detail || "";
      tr.append(placed);
      if (watching) {
        const td = el("td");
        if (playable(c)) {
          const box = el("input");
          box.type = "checkbox";
          box.className = "angle-choice";
          box.checked = chosen.has(c.evidence_id);
          box.setAttribute("aria-label", "play " + c.label);
          box.addEventListener("change", () => choose(c.evidence_id, box));
          td.append(box);
        }
        tr.append(td);
      }
      const actions = el("td");
      const open = el("a", "Open on its own", "open-clip");
      open.href = "/staff/evidence/" + encodeURIComponent(c.evidence_id) + (reason ? q("") : "");
      const remove = el("button", "Remove", "secondary small remove-clip");
      remove.type = "button";
      remove.addEventListener("click", () => edit("DELETE", "/evidence/" + encodeURIComponent(c.evidence_id)));
      actions.append(open, " ", remove);
      tr.append(actions);
      tbody.append(tr);
    }
  }

  // choose plays or stops playing a clip's angle, four at most.
  function choose(id, box) {
    if (box.checked && chosen.size >= maxAngles) {
      box.checked = false;
      $("status").textContent = "Four angles play at a time: untick one first.";
      return;
    }
    if (box.checked) chosen.add(id); else chosen.delete(id);
    build();
    seek(now());
  }

  // edit sends a change of the incident and shows the timeline again.
  async function edit(method, path, body) {
    const res = await fetch("/api/v1/incidents/" + encodeURIComponent(incident) + path, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      const e = await res.json().catch(() => ({}));
      $("incident-status").textContent = "Not done: " + (e.error || res.status) + ".";
      return false;
    }
    $("incident-status").textContent = "";
    await load();
    return true;
  }

  function build() {
    const angles = $("angles"), lanes = $("lanes");
    let shown = 0;
    for (const c of clips) {
      const want = playable(c) && chosen.has(c.evidence_id);
      if (!want && c.video) {
        c.video.pause();
        c.video.parentElement.remove();
        c.video = null;
      }
      if (!want) continue;
      shown++;
      if (c.video) {
        c.video.muted = shown > 1; // one sound at a time
        continue;
      }
      const box = el("div", undefined, "angle");
      const v = el("video");
      v.muted = shown > 1;
      v.preload = "auto";
      v.playsInline = true;
      v.src = q("/api/v1/evidence/" + encodeURIComponent(c.evidence_id) + "/review");
      v.dataset.evidence = c.evidence_id;
      box.append(v, el("span", c.label, "name"));
      angles.append(box);
      c.video = v;
    }
    lanes.replaceChildren();
    const head = el("div", undefined, "playhead");
    head.id = "playhead";
    lanes.append(head);
    for (const c of clips) {
      const lane = el("div", undefined, "lane");
      lane.dataset.evidence = c.evidence_id;
      const label = el("span", c.label + " · " + how(c), "label");
      label.title = c.detail || "";
      const bar = el("div", undefined, "clip " + (c.status === "pending" ? "pending" : c.method));
      bar.style.left = (100 * c.offset_s / player.total()) + "%";
      bar.style.width = Math.max(0.5, 100 * c.duration_s / player.total()) + "%";
      if (c.has_video) bar.style.backgroundImage = "url(\"" + q("/api/v1/evidence/" + encodeURIComponent(c.evidence_id) + "/thumbnails") + "\")";
      lane.append(label, bar);
      if (c.status !== "pending") {
        const nudge = el("span", undefined, "nudge");
        for (const [text, d] of [["−0.1 s", -0.1], ["−1 frame", -frame], ["+1 frame", frame], ["+0.1 s", 0.1], ["✓", 0]]) {
          const b = el("button", text, "nudge-btn");
          b.type = "button";
          b.dataset.nudge = String(d);
          b.addEventListener("click", (ev) => { ev.stopPropagation(); edit("POST", "/evidence/" + encodeURIComponent(c.evidence_id) + "/offset", { nudge_s: d }); });
          nudge.append(b);
        }
        lane.append(nudge);
      }
      lanes.append(lane);
    }
  }

  function draw(t) {
    $("scrubber").value = t.toFixed(3);
    $("clock").textContent = fmt(t);
    $("wallclock").textContent = start ? clock(new Date(start.getTime() + t * 1000)) : "";
    const head = $("playhead");
    if (head) head.style.left = (100 * t / player.total()) + "%";
  }

  function play() {
    player.play();
    $("play").textContent = "Pause";
  }

  function pause() {
    player.pause();
    $("play").textContent = "Play";
  }

  if (watching) {
    $("play").addEventListener("click", () => (player.playing() ? pause() : play()));
    $("scrubber").addEventListener("input", () => seek(parseFloat($("scrubber").value)));
    $("lanes").addEventListener("click", (ev) => {
      const box = $("lanes").getBoundingClientRect();
      seek(player.total() * (ev.clientX - box.left) / box.width);
    });
  }

  // For the incident page's other parts, for tests and for a reviewer's
  // console: where each angle should be, and the changes.
  window.sightlineTimeline = {
    time: now,
    clips: () => clips,
    expected: player.expected,
    seek, play, pause, reload: load, edit,
  };
  load().catch((e) => { $("status").textContent = String(e); });
})();
