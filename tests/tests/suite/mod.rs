mod agent_loop;
mod anthropic;
mod catalog;
mod classify_fixtures;
mod cli;
mod faults;
mod responses;
mod support;
