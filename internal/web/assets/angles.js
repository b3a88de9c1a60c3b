// Several videos of one event playing in step on one clock: the staff
// timeline (timeline.js) and a public release's page (release.js).
//
// The clock T is kept here (a wall clock while playing). A clip's own
// time for T is (T - offset_s) / (1 + drift_ppm·1e-6), and every frame
// each video is steered to it: a small error is taken up by playing a
// little faster or slower, a large one (over 0.25 s) by seeking. A video
// still seeking is left to finish: seeking it again would keep it on its
// old frame for as long as seeks take longer than a frame.
//
// sightlineAngles(clips, draw, ended) takes a function returning the
// clips (each {video, offset_s, duration_s, drift_ppm}; those without a
// video are skipped), one called with T after every step, and one called
// when playing reaches the end; it returns the clock.
"use strict";
window.sightlineAngles = (clips, draw, ended) => {
  const startLead = 0.1; // seconds a video takes from play() to moving
  let total = 1;
  let T = 0; // incident time while paused; at wallStart while playing
  let playing = false, wallStart = 0;
  const now = () => (playing ? T + (performance.now() - wallStart) / 1000 : T);
  const local = (c, t) => (t - c.offset_s) / (1 + (c.drift_ppm || 0) * 1e-6);

  // seek puts the clock at t and every video at its moment.
  function seek(t) {
    t = Math.min(Math.max(0, t), total);
    T = t;
    wallStart = performance.now();
    for (const c of clips()) {
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

  // steer keeps each playing video at its moment of the clock.
  function steer() {
    if (!playing) return;
    const t = now();
    if (t >= total) {
      pause();
      seek(total);
      if (ended) ended();
      return;
    }
    for (const c of clips()) {
      const v = c.video;
      if (!v) continue;
      const lt = local(c, t);
      const inside = lt >= 0 && lt < c.duration_s;
      v.parentElement.classList.toggle("out", !inside);
      if (v.seeking) continue; // let it land; it is steered from there
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
    requestAnimationFrame(steer);
  }

  function pause() {
    T = now();
    playing = false;
    seek(T);
  }

  return {
    now, seek, play, pause, local,
    playing: () => playing,
    setTotal: (t) => { total = Math.max(t, 0.001); },
    total: () => total,
    // Where each video should be and is, for tests and a reviewer's
    // console.
    expected: () => clips().filter((c) => c.video).map((c) => ({ evidence: c.evidence_id, expected: local(c, now()), actual: c.video.currentTime,
      inside: local(c, now()) >= 0 && local(c, now()) <= c.duration_s, seeking: c.video.seeking })),
  };
};
