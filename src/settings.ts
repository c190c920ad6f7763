import { loadServiceConfig as loadConfig, settingNames } from './config/env.js';
import {
  builtinProfiles,
  loadProfiles as loadProfilesOf,
  parseProfiles as parseProfilesOf,
} from './config/profiles.js';
import { AGENTS } from './runner/agents/registry.js';

/**
 * config/'s readers given this build's agents. config/ knows no agent by name: the kinds a
 * profile may take, their options, and each model's key and upstream variables come from the
 * agent registry, here, where the service is wired.
 */
export const loadServiceConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(AGENTS, env);
export const parseProfiles = (input: unknown, source?: string) => parseProfilesOf(AGENTS, input, source);
export const loadProfiles = (path: string | undefined) => loadProfilesOf(AGENTS, path);
export const BUILTIN_PROFILES = builtinProfiles(AGENTS);
/**
 * Every variable the service reads (.env.example lists each; a unit test holds them in step).
 * A function: the schema it reads them from is not built at every start just to be counted.
 */
export const serviceSettingNames = () => settingNames(AGENTS);
