import './styles.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { login, logout, onSessionChange, type User } from './api';
import { Dashboard } from './dashboard';

/** Sign-in: username or email, password, and the one-time code when the API asks for it. */
function SignIn() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [otp, setOtp] = useState('');
  const [needOtp, setNeedOtp] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setMessage(null);
    try {
      const result = await login(username.trim(), password, needOtp ? otp.trim() : undefined);
      if (!result.ok) {
        setNeedOtp(needOtp || result.otpRequired);
        setMessage(result.message);
      }
    } catch (error) {
      setMessage(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin">
      <form class="signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Ledger back office</h1>
        <p class="muted">Staff sign-in. Nothing is kept in this browser: reloading signs you out.</p>
        <label>
          Username
          <input
            name="username"
            autocomplete="username"
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {needOtp ? (
          <label>
            One-time code
            <input
              name="otp"
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              required
              value={otp}
              onInput={(e) => setOtp(e.currentTarget.value)}
            />
          </label>
        ) : null}
        {message ? (
          <p class="error" role="alert">
            {message}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function App() {
  const [user, setUser] = useState<User | null>(null);
  useEffect(() => onSessionChange(setUser), []);
  return user ? <Dashboard user={user} onSignOut={() => void logout()} /> : <SignIn />;
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
