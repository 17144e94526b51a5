// The "Backups" panel in Home Assistant's sidebar, for the engine beside Home Assistant
// Container (no Supervisor, so no ingress): the engine's own pages in a frame, served through
// this integration's proxy behind Home Assistant's login, as ingress does for the add-on.
// Home Assistant signs in with tokens, which a frame cannot send: the panel asks Core (over its
// websocket, as the signed-in user) for a short session and keeps it in a cookie that only the
// proxy's path receives, renewed while the panel is open.
const SESSION_PATH = "/api/kopia_webhook/panel";
const RENEW_MS = 5 * 60 * 1000;

class KopiaWebhookPanel extends HTMLElement {
  set hass(hass) {
    this._hass = hass;
    if (!this._started) {
      this._started = true;
      this._start();
    }
  }

  connectedCallback() {
    if (this._started && !this._timer) this._renewEvery();
  }

  disconnectedCallback() {
    clearInterval(this._timer);
    this._timer = undefined;
  }

  async _start() {
    this.style.cssText = "display:block;height:100%";
    try {
      await this._renew();
    } catch (err) {
      const message = document.createElement("p");
      message.style.padding = "16px";
      message.textContent =
        "The Backups panel could not open: " + ((err && err.message) || err) +
        ". Only administrators can open it.";
      this.replaceChildren(message);
      return;
    }
    const frame = document.createElement("iframe");
    frame.src = SESSION_PATH + "/";
    frame.title = "Backups";
    frame.style.cssText = "border:0;width:100%;height:100%;display:block";
    this.replaceChildren(frame);
    this._renewEvery();
  }

  _renewEvery() {
    this._timer = setInterval(() => this._renew().catch(() => {}), RENEW_MS);
  }

  async _renew() {
    const answer = await this._hass.callWS({
      type: "kopia_webhook/panel_session",
      ...(this._session ? { session: this._session } : {}),
    });
    this._session = answer.session;
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie =
      `kopia_webhook_session=${answer.session}; path=${SESSION_PATH}; SameSite=Strict${secure}`;
  }
}

customElements.define("kopia-webhook-panel", KopiaWebhookPanel);
