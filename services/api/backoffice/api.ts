/**
 * The back office's client of the API: the same JWT flow as any client (POST /api/auth/login,
 * with the one-time code when 2FA is on; POST /api/auth/refresh before the access token
 * expires, and once on a 401; POST /api/auth/logout). The tokens live in this module's memory
 * only, never in localStorage, sessionStorage or a cookie: a reload signs the user out.
 */

export type Role = 'customer' | 'agent' | 'manager' | 'director' | 'auditor';

export interface User {
  id: string;
  username: string;
  email: string;
  firstName: string | null;
  lastName: string | null;
  role: Role;
  twoFactorEnabled: boolean;
  kycStatus: string;
}

interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  user?: User;
}

interface Session {
  accessToken: string;
  refreshToken: string;
  user: User;
}

/** An RFC 9457 problem the API answered (or a network failure, status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const staffRoles: readonly Role[] = ['agent', 'manager', 'director', 'auditor'];
/** Refresh this long before the access token expires. */
const refreshMarginMs = 60_000;

let session: Session | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | null = null;
const listeners = new Set<(user: User | null) => void>();

/** Called with the signed-in user, or null once signed out (the session ended or was refused). */
export function onSessionChange(listener: (user: User | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function setSession(next: Session | null, expiresIn?: number) {
  session = next;
  clearTimeout(refreshTimer);
  if (next && expiresIn !== undefined) {
    const delay = Math.max(5_000, expiresIn * 1000 - refreshMarginMs);
    refreshTimer = setTimeout(() => void refresh(), delay);
  }
  for (const listener of listeners) listener(next?.user ?? null);
}

async function problemOf(response: Response): Promise<ApiError> {
  let code = 'error';
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { code?: string; detail?: string; title?: string };
    code = body.code ?? code;
    message = body.detail ?? body.title ?? message;
  } catch {
    // Not a problem document: the status line says enough.
  }
  return new ApiError(response.status, code, message);
}

async function send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    return await fetch(path, {
      method,
      headers,
      credentials: 'omit',
      cache: 'no-store',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'network', 'The API cannot be reached');
  }
}

export type LoginResult = { ok: true; user: User } | { ok: false; otpRequired: boolean; message: string };

/** Signs in; staff and the auditor only (a customer's session is ended at once). */
export async function login(username: string, password: string, otp?: string): Promise<LoginResult> {
  const response = await send(
    'POST',
    '/api/auth/login',
    { username, password, ...(otp ? { otp } : {}) },
    null,
  );
  if (!response.ok) {
    const error = await problemOf(response);
    if (error.code === 'otp_required')
      return { ok: false, otpRequired: true, message: 'Enter your one-time code' };
    const messages: Record<string, string> = {
      invalid_credentials: 'Wrong username or password',
      invalid_otp: 'Wrong one-time code',
      account_locked: 'This user is locked: try again later',
      rate_limited: 'Too many attempts: wait a moment',
    };
    return {
      ok: false,
      otpRequired: error.code === 'invalid_otp',
      message: messages[error.code] ?? error.message,
    };
  }
  const pair = (await response.json()) as TokenPair & { user: User };
  if (!staffRoles.includes(pair.user.role)) {
    await send('POST', '/api/auth/logout', { refreshToken: pair.refreshToken }, pair.accessToken).catch(
      () => {},
    );
    return { ok: false, otpRequired: false, message: 'The back office is for staff only' };
  }
  setSession(
    { accessToken: pair.accessToken, refreshToken: pair.refreshToken, user: pair.user },
    pair.expiresIn,
  );
  return { ok: true, user: pair.user };
}

/** A new token pair (the old refresh token is spent); false, and signed out, when refused. */
export function refresh(): Promise<boolean> {
  const current = session;
  if (!current) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const response = await send('POST', '/api/auth/refresh', { refreshToken: current.refreshToken }, null);
      if (!response.ok) {
        if (response.status === 401) setSession(null);
        return false;
      }
      const pair = (await response.json()) as TokenPair;
      if (session === current) {
        setSession(
          { accessToken: pair.accessToken, refreshToken: pair.refreshToken, user: pair.user ?? current.user },
          pair.expiresIn,
        );
      }
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export async function logout(): Promise<void> {
  const current = session;
  setSession(null);
  if (current) {
    await send('POST', '/api/auth/logout', { refreshToken: current.refreshToken }, current.accessToken).catch(
      () => {},
    );
  }
}

/** A call as the signed-in user; a 401 refreshes the tokens once and tries again. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  if (!session) throw new ApiError(401, 'unauthorized', 'Signed out');
  let response = await send(method, path, body, session.accessToken);
  if (response.status === 401 && (await refresh()) && session) {
    response = await send(method, path, body, session.accessToken);
  }
  if (response.status === 401) setSession(null);
  if (!response.ok) throw await problemOf(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const get = <T>(path: string) => call<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => call<T>('POST', path, body ?? {});
export const patch = <T>(path: string, body: unknown) => call<T>('PATCH', path, body);

/** A file the API serves to staff (a KYC document), as a data: URL the page's CSP allows. */
export async function fileAsDataUrl(path: string): Promise<{ url: string; type: string }> {
  if (!session) throw new ApiError(401, 'unauthorized', 'Signed out');
  let response = await send('GET', path, undefined, session.accessToken);
  if (response.status === 401 && (await refresh()) && session) {
    response = await send('GET', path, undefined, session.accessToken);
  }
  if (!response.ok) throw await problemOf(response);
  const blob = await response.blob();
  const url = await new Promise<string>((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new ApiError(0, 'read', 'The file could not be read'));
    reader.readAsDataURL(blob);
  });
  return { url, type: blob.type };
}

export const canDecide = (role: Role) => role === 'manager' || role === 'director';
export const isStaff = (role: Role) => role === 'agent' || canDecide(role);
