/** The shapes the page reads, as docs/api.md gives them (only the fields it shows). */

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Transaction {
  id: string;
  type: string;
  status: 'posted' | 'pending' | 'voided' | 'rejected' | 'held_for_review' | 'returned';
  fromAccountId: string;
  toAccountId: string;
  amount: string;
  postedAmount: string | null;
  currency: string;
  reference: string | null;
  beneficiary: { iban: string; name: string } | null;
  riskFlags: string[];
  createdAt: string;
  position: string;
  review?: { decision: 'approved' | 'rejected'; reviewerId: string; reason: string; at: string } | null;
}

export interface Account {
  id: string;
  accountNumber: string | null;
  userId: string | null;
  type: string;
  currency: string;
  status: 'active' | 'frozen' | 'closed';
  balance: string;
  availableBalance: string;
  pendingDebits: string;
  pendingCredits: string;
  createdAt: string;
}

export interface Stats {
  currencies: {
    currency: string;
    deposits: string;
    volumeToday: string;
    transfersToday: number;
    heldForReview: number;
  }[];
  users: { total: number; byRole: Record<string, number>; kycVerified: number };
  projections: { name: string; lagPositions: number }[];
  deadLetters: { notifications: number };
}

export interface DailyVolume {
  from: string;
  to: string;
  items: { day: string; currency: string; volume: string; transactions: number }[];
}

export interface Verification {
  id: string;
  userId: string;
  documentType: 'passport' | 'id_card';
  status: 'submitted' | 'processing' | 'verified' | 'rejected' | 'needs_review';
  extracted: {
    surname: string;
    givenNames: string;
    documentNumber: string;
    nationality: string;
    dateOfBirth: string;
    expiryDate: string;
    mrzValid: boolean;
  } | null;
  faceMatch: { distance: number; matched: boolean } | null;
  reasons: string[];
  createdAt: string;
  hasSelfie?: boolean;
}

export interface AdminUser {
  id: string;
  username: string;
  email: string;
  firstName: string | null;
  lastName: string | null;
  role: string;
  kycStatus: string;
  locked: boolean;
  lockedUntil: string | null;
  erasedAt: string | null;
  createdAt: string;
}

export interface DeadLetter {
  intentId: string;
  type: string;
  recipientUserId: string;
  attempts: number;
  permanent: boolean;
  responseCode: number | null;
  reason: string;
  failedAt: string;
}

export interface TrialBalance {
  source: string;
  position: string;
  balanced: boolean;
  currencies: { currency: string; debits: string; credits: string; balanced: boolean }[];
}

export interface Readiness {
  status: 'ok' | 'unavailable';
  checks: {
    postgres: { ok: boolean; latencyMs: number };
    redis?: { ok: boolean; latencyMs: number };
    projections: { name: string; position: string; lagPositions: number; lagSeconds: number }[];
    lag: { ok: boolean; lagSeconds: number; lagSecondsMax: number };
  };
}
