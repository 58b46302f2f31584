/** The policy of a mode and role (one module each; the operations: ../policy.ts). */
import type { PmPolicy } from '../policy';
import { fullmeshClient } from './fullmesh-client';
import { fullmeshServer } from './fullmesh-server';
import { ndiffports } from './ndiffports';
import { passive } from './passive';

export function policyFor(
  mode: 'fullmesh' | 'ndiffports',
  role: 'client' | 'server',
  subflows: number,
): PmPolicy {
  if (mode === 'fullmesh') return role === 'client' ? fullmeshClient : fullmeshServer;
  return role === 'client' ? ndiffports(subflows) : passive;
}
