// Runs the graphql-http package's server audit against a live gateway and prints every
// result as one JSON array on stdout. The gateway answers nothing without a bearer token,
// so each request the audit makes carries the token given in FAME_AUDIT_TOKEN.
import { auditServer } from "graphql-http";

const url = process.env.FAME_AUDIT_URL;
const token = process.env.FAME_AUDIT_TOKEN;
if (!url || !token) {
  console.error("set FAME_AUDIT_URL and FAME_AUDIT_TOKEN");
  process.exit(2);
}

function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: fetchWithToken });
console.log(
  JSON.stringify(
    results.map(({ id, name, status, reason }) => ({ id, name, status, reason: reason ?? null })),
  ),
);
