// An auto-increment primary key "id", the one column type the two dialects
// spell differently: SQLite's INTEGER PRIMARY KEY AUTOINCREMENT (ids never
// reused, so a reader's "last id seen" stays meaningful) and PostgreSQL's
// BIGSERIAL.
import type { CreateTableBuilder } from 'kysely';
import type { Dialect } from '../types.js';

export function addSerialId<T extends string>(table: CreateTableBuilder<T, never>, dialect: Dialect): CreateTableBuilder<T, 'id'> {
  return dialect === 'sqlite'
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    : table.addColumn('id', 'bigserial', (c) => c.primaryKey());
}
