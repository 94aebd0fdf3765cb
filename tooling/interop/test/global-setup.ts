// Finds Python and the originals once for the whole run (probing Python costs a process per
// candidate) and hands the result to every test file.
import type { TestProject } from 'vitest/node'
import { findEnvironment } from './environment.ts'

export default function setup(project: TestProject): void {
  project.provide('interop', findEnvironment())
}
