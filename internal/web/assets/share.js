// Share with an officer: the holder of an item's token asks for a short
// code to read aloud (and a QR code of a link holding it). The code lets
// one signed-in supervisor open this item until it expires.
"use strict";

window.sightlineShare = function (root, evidenceID, token) {
  const q = (sel) => root.querySelector(sel);
  const button = q(".share-button");
  let timer = null;
  button.onclick = async () => {
    button.disabled = true;
    try {
      const res = await fetch("/api/v1/evidence/" + encodeURIComponent(evidenceID) + "/share-codes",
        { method: "POST", headers: { Authorization: "Bearer " + token }, cache: "no-store" });
      if (!res.ok) throw new Error("the server answered " + res.status);
      const c = await res.json();
      q(".code").textContent = c.code;
      q(".qr").src = c.qr;
      q(".qr").title = c.link;
      q(".share-code").hidden = false;
      const expires = new Date(c.expires_at).getTime();
      clearInterval(timer);
      const tick = () => {
        const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
        q(".code-expiry").textContent = left
          ? "Valid for " + Math.floor(left / 60) + " min " + String(left % 60).padStart(2, "0") + " s, for one supervisor."
          : "This code has expired. Get a new one.";
        if (!left) clearInterval(timer);
      };
      tick();
      timer = setInterval(tick, 1000);
      button.textContent = "Get a new code";
    } catch (err) {
      q(".code-expiry").textContent = "Could not get a code: " + err.message;
      q(".share-code").hidden = false;
    } finally {
      button.disabled = false;
    }
  };
};
