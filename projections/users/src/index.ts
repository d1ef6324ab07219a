export { usersMigrations } from './migrations.js';
export { usersProjection, usersProjectionHandles } from './projection.js';
export {
  InvalidUserCursor,
  listUsers,
  type UserPage,
  type UserQuery,
  type UserStats,
  userQueryLimits,
  userStats,
} from './queries.js';
export type { UsersDatabase, UsersTable } from './schema.js';
