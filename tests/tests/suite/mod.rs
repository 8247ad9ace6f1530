mod agent_loop;
mod classify_fixtures;
mod cli;
mod faults;
mod support;
