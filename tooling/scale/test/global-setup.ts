// Finds HAProxy once for the whole run, installing Debian's package when it is missing and the
// run may (root), and hands the result to every test file.
import type { TestProject } from 'vitest/node'
import { findHaproxy } from './environment.ts'

export default function setup(project: TestProject): void {
  project.provide('scale', findHaproxy())
}
