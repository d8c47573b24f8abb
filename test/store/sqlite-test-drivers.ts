import { describe, it } from 'node:test';
import { type SqliteDriverName, sqliteDriverAvailable } from '../../src/store/sqlite-driver.js';

/**
 * The SQLite drivers the SQLite suites run under in this Node: node:sqlite where Node has it
 * (22.13+), better-sqlite3 below Node 24. better-sqlite3 12 can abort a Node 24 process (a
 * statement finalised after the environment is gone: why node:sqlite is the default there), so on
 * Node 24 its run says so and is skipped; on Node 20, its only driver, it must load or fail.
 */
export function sqliteTestDrivers(): { readonly driver: SqliteDriverName; readonly skip?: string }[] {
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  return [
    sqliteDriverAvailable('node:sqlite')
      ? { driver: 'node:sqlite' }
      : { driver: 'node:sqlite', skip: `Node ${process.version} has no node:sqlite (Node 22.13+)` },
    nodeMajor >= 24
      ? { driver: 'better-sqlite3', skip: 'better-sqlite3 12 can abort the process on Node 24' }
      : { driver: 'better-sqlite3' },
  ];
}

/** Declares `suites(driver)` once per driver this Node runs; a skipped driver says why. */
export function forEachSqliteDriver(title: string, suites: (driver: SqliteDriverName) => void): void {
  for (const { driver, skip } of sqliteTestDrivers()) {
    if (skip === undefined) describe(`${title} [${driver}]`, () => suites(driver));
    else
      describe(`${title} [${driver}]`, () => {
        it(`is not run: ${skip}`, (t) => t.skip(skip));
      });
  }
}
