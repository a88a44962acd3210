"""The SES account mailpipe sends through, as its operators need to see it: what SES says
about the account (``account``) and what is wrong with it, each with what to do
(``checks``). The console's SES page shows both."""
