-- What a channel keeps of the content it receives (the claude-code provider): the longest value
-- of a tool's input or response, and extra patterns to redact. JSON; '{}' is the defaults.
alter table channels add column privacy text not null default '{}';
