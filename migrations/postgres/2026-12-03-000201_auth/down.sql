DROP TABLE operator_sessions;
DROP TABLE operators;
DROP TABLE api_tokens;
