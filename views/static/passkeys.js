// Passkeys (WebAuthn) in the console. A button or form with
// data-passkey="register|login|mfa|remove" runs one ceremony: POST its
// begin URL, hand the options to navigator.credentials, POST the answer to
// its finish URL, then follow the server's {"redirect": …}. The challenge
// and everything needed to check the answer stay on the server.
(function () {
  "use strict";

  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function bufToB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeCreation(o) {
    var pk = o.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    pk.user.id = b64urlToBuf(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return o;
  }

  function decodeRequest(o) {
    var pk = o.publicKey;
    pk.challenge = b64urlToBuf(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    return o;
  }

  function encodeCredential(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: bufToB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      if (r.userHandle) out.response.userHandle = bufToB64url(r.userHandle);
    }
    return out;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body === undefined ? "{}" : JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          var msg = data && data.error && data.error.message;
          throw new Error(msg || "The request failed (" + resp.status + ").");
        }
        return data;
      });
    });
  }

  function showError(el, msg) {
    var box = document.getElementById(el.getAttribute("data-passkey-error") || "passkey-error");
    if (!box) return;
    box.textContent = msg;
    box.hidden = false;
  }

  function run(el, extra) {
    var kind = el.getAttribute("data-passkey");
    var begin = el.getAttribute("data-passkey-begin"), finish = el.getAttribute("data-passkey-finish");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      showError(el, "This browser does not support passkeys.");
      return;
    }
    el.setAttribute("aria-busy", "true");
    post(begin, extra).then(function (options) {
      if (kind === "register") {
        return navigator.credentials.create(decodeCreation(options));
      }
      return navigator.credentials.get(decodeRequest(options));
    }).then(function (cred) {
      if (!cred) throw new Error("No passkey was chosen.");
      return post(finish, encodeCredential(cred));
    }).then(function (done) {
      window.location.assign(done.redirect || "/");
    }).catch(function (err) {
      el.removeAttribute("aria-busy");
      var msg = err && err.name === "NotAllowedError" ?
        "The passkey request was cancelled or timed out." : (err && err.message) || "The passkey request failed.";
      showError(el, msg);
    });
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("button[data-passkey]");
    if (!el || el.form && el.getAttribute("data-passkey") === "register") return;
    ev.preventDefault();
    run(el);
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form.getAttribute("data-passkey") !== "register") return;
    ev.preventDefault();
    run(form, { name: form.elements.name.value });
  });
})();
