// streamcart storefront script. Plain JavaScript, no build step. Every page
// works without it; it adds search as you type, add to cart without a
// reload, live order updates (Server-Sent Events) and the /ops refresh.
(function () {
  "use strict";

  var toastTimer;
  function toast(message, isError) {
    var el = document.querySelector("[data-toast]");
    if (!el) return;
    el.textContent = message;
    el.classList.toggle("is-error", !!isError);
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { el.hidden = true; }, 3500);
  }

  function setCartCount(n) {
    var badge = document.querySelector("[data-cart-count]");
    if (!badge) return;
    badge.querySelector("[data-cart-count-n]").textContent = String(n);
    badge.hidden = !(n > 0);
  }

  var offline = "We couldn’t reach the shop. Check your connection and try again.";

  // Search as you type.
  function initSearch() {
    var form = document.querySelector("[data-search-form]");
    var results = document.querySelector("[data-results]");
    if (!form || !results) return;
    var input = form.querySelector("[data-search-input]");
    var category = form.querySelector("[data-search-category]");
    var timer, controller, seq = 0;

    function load(query, focusResults) {
      if (controller) controller.abort();
      controller = new AbortController();
      var mine = ++seq;
      results.classList.add("is-loading");
      results.setAttribute("aria-busy", "true");
      fetch("/fragments/products" + query, { signal: controller.signal, headers: { Accept: "text/html" } })
        .then(function (resp) { return resp.text(); })
        .then(function (html) {
          if (mine !== seq) return;
          results.innerHTML = html;
          history.replaceState(null, "", "/" + query);
          // Screen readers hear the new count, not the whole grid.
          var count = results.querySelector("[data-results-count]");
          var status = document.querySelector("[data-search-status]");
          if (count && status) status.textContent = count.textContent.trim();
          if (focusResults) {
            results.setAttribute("tabindex", "-1");
            results.focus();
          }
        })
        .catch(function (err) {
          if (err.name === "AbortError" || mine !== seq) return;
          results.innerHTML = '<div class="notice notice-error" role="alert"><p></p></div>';
          results.querySelector("p").textContent = offline;
        })
        .finally(function () {
          if (mine !== seq) return;
          results.classList.remove("is-loading");
          results.removeAttribute("aria-busy");
        });
    }

    function currentQuery() {
      var params = new URLSearchParams();
      var q = input.value.trim();
      if (q) params.set("q", q);
      if (category && category.value) params.set("category", category.value);
      var s = params.toString();
      return s ? "?" + s : "";
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { load(currentQuery()); }, 250);
    });
    if (category) category.addEventListener("change", function () {
      clearTimeout(timer);
      load(currentQuery());
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      clearTimeout(timer);
      load(currentQuery());
    });
    results.addEventListener("click", function (e) {
      var link = e.target.closest("[data-page-link]");
      if (!link || e.metaKey || e.ctrlKey || e.shiftKey) return;
      e.preventDefault();
      load(new URL(link.href).search, true);
      window.scrollTo({ top: form.getBoundingClientRect().top + window.scrollY - 80 });
    });
  }

  // Add to cart without leaving the page.
  function initAddToCart() {
    document.addEventListener("submit", function (e) {
      var form = e.target.closest("[data-add-form]");
      if (!form) return;
      e.preventDefault();
      var button = form.querySelector("[data-add-button]");
      var ret = form.querySelector("[data-return]");
      if (ret) ret.value = location.pathname + location.search;
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (resp) {
          return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
        })
        .then(function (r) {
          if (!r.ok) {
            toast(r.body.error || "That didn’t work. Please try again.", true);
            return;
          }
          setCartCount(r.body.cartCount);
          toast(r.body.message);
          var label = button.textContent;
          button.textContent = "Added ✓";
          button.classList.add("is-done");
          setTimeout(function () {
            button.textContent = label;
            button.classList.remove("is-done");
          }, 1500);
        })
        .catch(function () { toast(offline, true); })
        .finally(function () { button.disabled = false; });
    });
  }

  // Buy Now: one press is enough.
  function initCheckout() {
    var form = document.querySelector("[data-checkout-form]");
    if (!form) return;
    form.addEventListener("submit", function () {
      var button = form.querySelector("[data-buy-now]");
      setTimeout(function () {
        button.disabled = true;
        button.textContent = "Placing your order…";
      }, 0);
    });
  }

  // Live order updates.
  var captions = { "4": "Paid — thank you!", "-4": "Payment declined", "3": "Taking payment…", "2": "Waiting for payment…", "1": "Waiting for payment…", "0": "Waiting for payment…" };
  function rank(status) { return status === 4 || status === -4 ? 100 : status; }
  function tone(status) { return status === 4 ? "ok" : status === -4 ? "fail" : "wait"; }
  function money(cents) {
    return (cents / 100).toLocaleString("en-US", { style: "currency", currency: "USD" });
  }
  function setField(card, name, text, html) {
    var el = card.querySelector('[data-field="' + name + '"]');
    if (!el) return;
    if (html) {
      el.replaceChildren(html);
    } else {
      el.textContent = text;
    }
  }
  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function initLiveOrders() {
    var root = document.querySelector("[data-live-orders]");
    if (!root || !window.EventSource) return;
    var state = document.querySelector("[data-live-state]");
    var list = document.querySelector("[data-orders-list]");
    var refreshing = false;

    function showState(up) {
      if (!state) return;
      state.hidden = false;
      state.classList.toggle("is-down", !up);
      state.querySelector("[data-live-text]").textContent = up ? "Live updates on" : "Reconnecting…";
    }

    function refreshList() {
      if (!list || refreshing) return;
      refreshing = true;
      fetch("/fragments/orders", { headers: { Accept: "text/html" } })
        .then(function (resp) { return resp.ok ? resp.text() : null; })
        .then(function (html) { if (html !== null) list.innerHTML = html; })
        .catch(function () {})
        .finally(function () { refreshing = false; });
    }

    function apply(rec) {
      if (!rec || !rec.orderId) return;
      var card = root.querySelector('[data-order-id="' + CSS.escape(rec.orderId) + '"]');
      if (!card) {
        refreshList();
        return;
      }
      var current = Number(card.dataset.status);
      if (rank(rec.status) < rank(current)) return; // a late, older record
      var badge = card.querySelector('[data-field="status"]');
      if (badge && badge.textContent !== rec.statusName) {
        badge.textContent = rec.statusName;
        badge.className = "badge badge-" + tone(rec.status) + " is-changed";
      }
      card.dataset.status = String(rec.status);
      setField(card, "caption", captions[String(rec.status)] || "");
      if (rec.paymentId) setField(card, "payment", rec.paymentId);
      if (typeof rec.amountCents === "number") setField(card, "amount", money(rec.amountCents));
      if (typeof rec.identityScore === "number") {
        setField(card, "score", rec.identityScore.toFixed(2));
        setField(card, "fraud", "", rec.potentialFraud ? span("flag flag-warn", "Potential fraud") : span("flag flag-ok", "Looks fine"));
      }
    }

    var es = new EventSource("/api/v1/orders/events");
    es.addEventListener("ready", function () {
      showState(true);
      // Updates sent before the stream opened are not in it: read them.
      fetch("/api/v1/orders", { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (resp) { return resp.ok ? resp.json() : { orders: [] }; })
        .then(function (body) { (body.orders || []).forEach(apply); })
        .catch(function () {});
    });
    es.addEventListener("order", function (e) {
      try { apply(JSON.parse(e.data)); } catch (err) { /* not an order record */ }
    });
    es.addEventListener("error", function () { showState(false); });
    window.addEventListener("pagehide", function () { es.close(); });
  }

  // The live part of /ops, every 2 seconds while the page is visible.
  function initOps() {
    var live = document.querySelector("[data-ops-live]");
    if (!live) return;
    var state = document.querySelector("[data-live-state]");
    function showState(up, text) {
      if (!state) return;
      state.hidden = false;
      state.classList.toggle("is-down", !up);
      state.querySelector("[data-live-text]").textContent = text;
    }
    function tick() {
      if (document.hidden) {
        setTimeout(tick, 2000);
        return;
      }
      fetch("/ops/fragment", { headers: { Accept: "text/html" }, credentials: "same-origin" })
        .then(function (resp) {
          return resp.text().then(function (html) { return { status: resp.status, html: html }; });
        })
        .then(function (r) {
          if (r.status === 401) {
            showState(false, "Signed out");
            live.insertAdjacentHTML("afterbegin", r.html);
            return; // stop polling
          }
          // Keep keyboard focus on the same control across the refresh.
          var key = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focusKey : null;
          live.innerHTML = r.html;
          if (key) {
            var again = live.querySelector('[data-focus-key="' + CSS.escape(key) + '"]');
            if (again) again.focus();
          }
          showState(r.status === 200, r.status === 200 ? "Live" : "Trouble reading Redis");
          setTimeout(tick, 2000);
        })
        .catch(function () {
          showState(false, "Connection lost, retrying…");
          setTimeout(tick, 2000);
        });
    }
    showState(true, "Live");
    setTimeout(tick, 2000);
  }

  initSearch();
  initAddToCart();
  initCheckout();
  initLiveOrders();
  initOps();
})();
