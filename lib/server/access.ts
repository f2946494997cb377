/**
 * Who may talk to the server from a browser. Two defences, both decided here:
 *
 * - The Host header (DNS rebinding): a page on evil.example can point its own name at 127.0.0.1 and have the
 *   browser send requests to a server on this machine's loopback "as" evil.example, reading the answers. A
 *   server bound to loopback therefore answers only requests addressed to a loopback name (localhost,
 *   127.0.0.1, [::1], the bound address) or to a name in allowedHosts; with allowedHosts given, a server on
 *   another address checks it too. '*' in allowedHosts turns the check off.
 * - CORS: no Access-Control-* header is sent unless the request's Origin is in allowedOrigins (exact
 *   origins such as http://localhost:3000, or '*'); then preflights (OPTIONS) are answered and responses
 *   carry Access-Control-Allow-Origin. A preflight from any other origin gets 403.
 */
import type { IncomingMessage, ServerResponse } from 'http';
import { shown } from '../errors';
import { HttpError } from './http';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** The hostname of a Host header value, lower case, without the port, the IPv6 brackets or a final dot. */
export function hostnameOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  const name = h.startsWith('[') ? h.slice(1, h.indexOf(']') < 0 ? h.length : h.indexOf(']')) : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

/** An origin as browsers send it: scheme://host[:port], lower case, without a path or a final slash. */
function normalizeOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '');
}

export interface AccessOptions {
  /** the address the server is bound to */
  host: string;
  /** hostnames accepted in the Host header besides the loopback names ('*': any) */
  allowedHosts?: string[];
  /** origins whose pages may call the API from a browser ('*': any) */
  allowedOrigins?: string[];
}

/** Headers a preflight may ask for: HTTP token characters only, so an echoed list cannot inject anything. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

export class AccessPolicy {
  /** undefined: any Host is accepted */
  private readonly hosts?: Set<string>;
  private readonly origins: Set<string>;
  private readonly anyOrigin: boolean;

  constructor(o: AccessOptions) {
    const allowed = (o.allowedHosts ?? []).map(hostnameOf);
    if (!allowed.includes('*') && (isLoopback(o.host) || allowed.length > 0)) {
      this.hosts = new Set([...LOOPBACK_NAMES, hostnameOf(o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host), ...allowed]);
    }
    const origins = (o.allowedOrigins ?? []).map(normalizeOrigin);
    this.anyOrigin = origins.includes('*');
    this.origins = new Set(origins);
  }

  /** 403 unless the Host header names this server (a request without one, HTTP/1.0, is not a browser's). */
  checkHost(req: IncomingMessage): void {
    const header = req.headers.host;
    if (!this.hosts || header === undefined) return;
    if (!this.hosts.has(hostnameOf(header))) {
      throw new HttpError(403, `the Host header ${shown(header)} does not name this server; allow the name with --allowed-hosts`,
        null, 'invalid_request_error', 'host_not_allowed');
    }
  }

  /**
   * Sets the CORS headers an allowed Origin gets on every response. Answers a preflight (OPTIONS with
   * Access-Control-Request-Method) itself and returns true; 403 for a preflight from another origin.
   */
  cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    const allowed = origin !== undefined && (this.anyOrigin || this.origins.has(normalizeOrigin(origin)));
    if (origin !== undefined) res.setHeader('vary', 'Origin');
    if (allowed) res.setHeader('access-control-allow-origin', this.anyOrigin ? '*' : origin);
    if (!preflight) return false;
    if (!allowed) {
      throw new HttpError(403, `the origin ${origin === undefined ? '(none)' : shown(origin)} may not call this server from a browser; ` +
        'allow it with --allowed-origins', null, 'invalid_request_error', 'origin_not_allowed');
    }
    const asked = req.headers['access-control-request-headers'];
    res.writeHead(204, {
      'access-control-allow-methods': 'GET, POST',
      ...(asked && HEADER_LIST.test(asked) ? { 'access-control-allow-headers': asked } : {}),
      'access-control-max-age': '600',
    });
    res.end();
    return true;
  }
}
