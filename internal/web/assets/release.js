// A public release's page: its angles play in step on the incident's
// clock (angles.js), under one scrubber. Without JavaScript each video
// still plays on its own, and the list, the bars and the links are all
// in the page.
"use strict";
(() => {
  const root = document.getElementById("release");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const clips = [...document.querySelectorAll(".release-angle")].map((fig) => ({
    evidence_id: fig.dataset.n,
    video: fig.querySelector("video"),
    offset_s: parseFloat(fig.dataset.incidentFrom),
    duration_s: parseFloat(fig.dataset.duration),
    drift_ppm: 0,
  }));
  if (!clips.length) return;
  const fmt = (t) => {
    const m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(3);
  };
  const draw = (t) => {
    $("scrubber").value = t.toFixed(3);
    $("clock").textContent = fmt(t);
  };
  const player = window.sightlineAngles(() => clips, draw, () => { $("play").textContent = "Play all"; });
  player.setTotal(parseFloat(root.dataset.total));
  // One sound at a time; the others' controls give way to the shared ones.
  clips.forEach((c, i) => {
    c.video.muted = i > 0;
    c.video.controls = false;
  });
  $("transport").hidden = false;
  $("play").addEventListener("click", () => {
    if (player.playing()) {
      player.pause();
      $("play").textContent = "Play all";
    } else {
      player.play();
      $("play").textContent = "Pause";
    }
  });
  $("scrubber").addEventListener("input", () => player.seek(parseFloat($("scrubber").value)));
  // A link from a lookup names a file and a time in it: #file=N&t=S.
  const hash = new URLSearchParams(location.hash.slice(1));
  const at = clips.find((c) => c.evidence_id === hash.get("file"));
  player.seek(at ? at.offset_s + (parseFloat(hash.get("t")) || 0) : 0);
  window.sightlineRelease = { time: player.now, expected: player.expected, seek: player.seek, play: player.play, pause: player.pause };
})();
