// The FAME Gateway's schema explorer: GraphiQL over the gateway's own /graphql.
// Served as a file (the page's Content-Security-Policy allows no inline script).
// The bearer token is kept in this tab's sessionStorage only once given, and is sent
// to the gateway alone; headers typed into GraphiQL's Headers tab are added (and win).
"use strict";

(function () {
  const TOKEN_KEY = "fame-token";
  const body = document.body;
  const form = document.getElementById("fame-token-form");
  const input = document.getElementById("fame-token");
  const clear = document.getElementById("fame-token-clear");
  const status = document.getElementById("fame-token-status");
  const mount = document.getElementById("graphiql");
  const introspection = body.dataset.introspection === "true";
  let root = null;

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (_) {
      return "";
    }
  }

  function setToken(value) {
    const token = (value || "").trim().replace(/^Bearer\s+/i, "");
    try {
      if (token) {
        sessionStorage.setItem(TOKEN_KEY, token);
      } else {
        sessionStorage.removeItem(TOKEN_KEY);
      }
    } catch (_) {
      // Storage refused (private mode): the token lasts until the page is left.
    }
    memoryToken = token;
    input.value = "";
    showStatus();
    render();
  }

  let memoryToken = storedToken();

  // Who the token says it is, for the status line only: the gateway verifies it.
  function describe(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
      const claims = JSON.parse(new TextDecoder().decode(bytes));
      const roles = Array.isArray(claims.roles) ? claims.roles.join(", ") : "";
      return [claims.name || claims.sub, roles, claims.team].filter(Boolean).join(" · ");
    } catch (_) {
      return "";
    }
  }

  function showStatus(message) {
    if (message) {
      status.textContent = message;
      return;
    }
    if (!memoryToken) {
      status.textContent = "No token yet: the gateway answers 401 until you give one.";
      return;
    }
    const who = describe(memoryToken);
    status.textContent = "Using a token" + (who ? " for " + who : "") + " (this tab only).";
  }

  async function fetcher(params, options) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (memoryToken) {
      headers.Authorization = "Bearer " + memoryToken;
    }
    Object.assign(headers, (options && options.headers) || {});
    const response = await fetch("/graphql", {
      method: "POST",
      headers: headers,
      body: JSON.stringify(params),
      credentials: "omit",
    });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch (_) {
      return { errors: [{ message: "HTTP " + response.status + ": " + text.slice(0, 500) }] };
    }
  }

  function render() {
    if (typeof GraphiQL === "undefined" || typeof ReactDOM === "undefined") {
      showStatus("GraphiQL did not load; see the browser console.");
      return;
    }
    const props = {
      // A new function per token: GraphiQL then fetches the schema again with it.
      fetcher: (params, options) => fetcher(params, options),
      defaultQuery: body.dataset.defaultQuery,
      isHeadersEditorEnabled: true,
      // Headers may hold credentials: never written to localStorage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
    };
    // No schema to fetch without introspection, nor without a token (it would be a 401).
    if (!introspection || !memoryToken) {
      props.schema = null;
    }
    if (root === null) {
      root = ReactDOM.createRoot(mount);
    }
    root.render(React.createElement(GraphiQL, props));
  }

  async function signInAs(practitioner) {
    showStatus("Minting a demo token for " + practitioner + "…");
    try {
      const response = await fetch(body.dataset.demoTokenPath, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ practitioner: practitioner }),
        credentials: "omit",
      });
      const answer = await response.json();
      if (!response.ok) {
        showStatus(answer.errors ? answer.errors[0].message : "HTTP " + response.status);
        return;
      }
      setToken(answer.token);
    } catch (error) {
      showStatus("Could not mint a demo token: " + error);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) {
      setToken(input.value);
    }
  });
  clear.addEventListener("click", () => setToken(""));
  for (const button of document.querySelectorAll("[data-practitioner]")) {
    button.addEventListener("click", () => signInAs(button.dataset.practitioner));
  }
  showStatus();
  render();
})();
