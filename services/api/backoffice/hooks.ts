import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';

export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  /** Loads again now (after a decision: with the command's position). */
  reload: () => void;
}

/**
 * Loads `load()` now, then every `everyMs` while the tab is visible; `key` changes load again
 * at once. Errors keep the last data shown beside the message.
 */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, key = ''): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const seq = useRef(0);

  const reload = useCallback(() => {
    const mine = ++seq.current;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (mine !== seq.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (mine !== seq.current) return;
        setError(failure instanceof ApiError || failure instanceof Error ? failure.message : String(failure));
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    reload();
    if (everyMs <= 0) return;
    const timer = setInterval(() => {
      if (!document.hidden) reload();
    }, everyMs);
    return () => clearInterval(timer);
  }, [reload, everyMs, key]);

  return { data, error, loading, reload };
}

/** What a decision changed: panels load again, waiting for the read models to reach `position`. */
export interface Freshness {
  position: string | null;
  tick: number;
}

/** `?minPosition=` for the last decision's position, joined to a path. */
export function fresh(path: string, freshness: Freshness): string {
  if (freshness.position === null) return path;
  return `${path}${path.includes('?') ? '&' : '?'}minPosition=${freshness.position}`;
}
