// Copy buttons: `data-copy` names the element whose text is copied. The panel runs in
// Home Assistant's iframe, where the Clipboard API may be refused; fall back to a selection.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    copied = document.execCommand && document.execCommand("copy");
  }
  const label = button.textContent;
  button.textContent = copied ? "Copied" : "Select and copy";
  setTimeout(() => { button.textContent = label; }, 1500);
});

// Live pages: a page with `data-live` waits for the add-on to say something changed (a
// report arrived, a monitor changed), then fetches itself again and swaps in the new
// content. A long poll: one request open at a time, answered at once when something
// happens. Open set-up guides stay open; forms are never live.
(() => {
  if (!document.querySelector("[data-live]")) return;
  let version = null;
  const refresh = async () => {
    const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const next = new DOMParser().parseFromString(await response.text(), "text/html");
    const main = document.getElementById("main");
    const fresh = next.getElementById("main");
    if (!main || !fresh) return;
    const open = Array.from(main.querySelectorAll("details")).map((d) => d.open);
    main.replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
    const details = main.querySelectorAll("details");
    if (details.length === open.length) details.forEach((d, i) => { d.open = open[i]; });
    document.title = next.title;
  };
  const wait = async () => {
    for (;;) {
      try {
        const query = version === null ? "" : `?since=${version}`;
        const response = await fetch(`api/changes${query}`, { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const latest = (await response.json()).version;
        if (version !== null && latest !== version) await refresh();
        version = latest;
      } catch (_) {
        // The add-on restarting, or Home Assistant's proxy: try again a little later.
        await new Promise((resolve) => setTimeout(resolve, 5000));
      }
    }
  };
  wait();
})();
