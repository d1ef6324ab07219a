export { supportMigrations } from './migrations.js';
export { supportProjection, supportProjectionHandles } from './projection.js';
export { InvalidTicketCursor, listTickets, type TicketQuery } from './queries.js';
export type { SupportDatabase, TicketsTable } from './schema.js';
