// How the pages say things: times in the reader's own time zone, sizes,
// lengths, people. Loaded before a page's own script.
"use strict";

window.say = (function () {
  const pad = (n) => String(n).padStart(2, "0");
  return {
    // time says an RFC 3339 instant in local time, with the date.
    time(iso) {
      if (!iso) return "";
      const d = new Date(iso);
      return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    },
    // clock says an instant as a time of day, to the tenth of a second.
    clock(d) {
      return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + Math.floor(d.getMilliseconds() / 100);
    },
    size(n) {
      const units = ["bytes", "KB", "MB", "GB"];
      let i = 0;
      while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
      return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
    },
    // length says a duration in seconds: "12.4 s", "3 min 05 s".
    length(s) {
      if (s === null || s === undefined) return "";
      if (s < 60) return s.toFixed(1) + " s";
      return Math.floor(s / 60) + " min " + pad(Math.floor(s % 60)) + " s";
    },
    count(n, one, many) { return n + " " + (n === 1 ? one : (many || one + "s")); },
    // person says a staff member: "sgt.reyes (supervisor, central, badge 301)".
    person(p) {
      return p.name + " (" + [p.role, p.unit, p.badge ? "badge " + p.badge : ""].filter(Boolean).join(", ") + ")";
    },
    // el makes an element with text and a class.
    el(tag, text, cls) {
      const e = document.createElement(tag);
      if (text !== undefined) e.textContent = text;
      if (cls) e.className = cls;
      return e;
    },
  };
})();
