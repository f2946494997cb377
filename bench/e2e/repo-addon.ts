/**
 * Imported first by bench scripts that load lib code in their own process: points lib/native at the
 * repository's addon before anything requires it (bench/e2e/addon.ts says why).
 */
import { useRepoAddon } from './addon';

useRepoAddon();
