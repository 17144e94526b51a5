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

  // On a phone Home Assistant hides its sidebar: the bar's menu button opens it there.
  set narrow(narrow) {
    this._narrow = narrow;
    if (this._menu) this._menu.style.display = narrow ? "" : "none";
  }

  connectedCallback() {
    if (this._started && !this._timer) this._renewEvery();
  }

  disconnectedCallback() {
    clearInterval(this._timer);
    this._timer = undefined;
  }

  async _start() {
    this.style.cssText = "display:flex;flex-direction:column;height:100vh";
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
    this._bar = this._menuBar();
    const frame = document.createElement("iframe");
    frame.src = SESSION_PATH + "/";
    frame.title = "Backups";
    frame.style.cssText = "border:0;width:100%;flex:1;display:block";
    this.replaceChildren(this._bar, frame);
    this._renewEvery();
  }

  _menuBar() {
    const bar = document.createElement("div");
    bar.style.cssText =
      "display:flex;align-items:center;gap:8px;height:56px;padding:0 8px;" +
      "background:var(--app-header-background-color);color:var(--app-header-text-color,white)";
    const menu = document.createElement("button");
    menu.type = "button";
    menu.textContent = "\u2630";
    menu.setAttribute("aria-label", "Open Home Assistant's sidebar");
    menu.style.cssText =
      "font-size:24px;background:none;border:0;color:inherit;cursor:pointer;padding:8px";
    menu.style.display = this._narrow ? "" : "none";
    this._menu = menu;
    menu.addEventListener("click", () =>
      this.dispatchEvent(new Event("hass-toggle-menu", { bubbles: true, composed: true })),
    );
    const title = document.createElement("span");
    title.textContent = "Backups";
    title.style.cssText = "font-size:20px;padding-left:8px";
    bar.append(menu, title);
    return bar;
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
