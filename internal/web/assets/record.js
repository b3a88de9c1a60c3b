// What the upload and capture pages offer to save: the receipt (which
// `sightline verify` checks), with the access token and the evidence
// page's link for whoever holds the file (format sightline-capture-v1).
"use strict";

window.sightlineRecord = {
  // kept gives the tokens this browser keeps, by evidence id; remember
  // keeps one more, where the evidence page finds it again.
  kept() {
    try { return JSON.parse(localStorage.getItem("sightline-tokens") || "{}"); } catch (e) { return {}; }
  },
  // rememberCase keeps a complaint's key, as remember keeps footage's.
  rememberCase(id, token) {
    try {
      const k = JSON.parse(localStorage.getItem("sightline-cases") || "{}");
      k[id] = token;
      localStorage.setItem("sightline-cases", JSON.stringify(k));
    } catch (e) { /* private mode: the saved file remains */ }
  },
  keptCase(id) {
    try { return JSON.parse(localStorage.getItem("sightline-cases") || "{}")[id] || ""; } catch (e) { return ""; }
  },
  remember(id, token) {
    try {
      const k = this.kept();
      k[id] = token;
      localStorage.setItem("sightline-tokens", JSON.stringify(k));
    } catch (e) { /* private mode: the saved file remains */ }
  },
  pageURL(id, token) {
    return location.origin + "/e/" + encodeURIComponent(id) + "#token=" + encodeURIComponent(token);
  },
  // link makes a an <a> that saves the record of evidence ev.
  link(a, ev, token, receipt, earlierParts) {
    const file = {
      format: "sightline-capture-v1", evidence_page: this.pageURL(ev.id, token), access_token: token,
      evidence: ev, receipt: receipt || null, earlier_parts: earlierParts || [],
    };
    a.href = URL.createObjectURL(new Blob([JSON.stringify(file, null, 2)], { type: "application/json" }));
    a.download = ev.id + ".sightline.json";
  },
};
