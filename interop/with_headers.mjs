// Preload for tools that take no header option (the MCP conformance suite):
//
//   MCP_HEADERS='{"X-API-Key": "..."}' node --import ./with_headers.mjs node_modules/.bin/conformance server --url ...
//
// Every fetch() the process makes then carries those headers, as a host's
// "headers" setting would. Requests made without fetch() (the suite's raw
// undici probes in dns-rebinding-protection) do not.
const headers = Object.entries(JSON.parse(process.env.MCP_HEADERS || "{}"));
const originalFetch = globalThis.fetch;

globalThis.fetch = (input, init = {}) => {
  const merged = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  for (const [name, value] of headers) merged.set(name, value);
  return originalFetch(input, { ...init, headers: merged });
};
