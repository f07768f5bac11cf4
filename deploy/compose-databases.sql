-- One database for the log and one per witness: a witness keeps its own state.
CREATE DATABASE log;
CREATE DATABASE witness1;
CREATE DATABASE witness2;
CREATE DATABASE witness3;
CREATE DATABASE scim;
